"""Loads what the can-text checklist needs for one patient and asks the domain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clinictext.domain.checklist import (
    Channel,
    Check,
    Registration,
    SenderFact,
    SendKind,
    TextingFacts,
    Verification,
    can_text,
    evaluate,
)
from clinictext.domain.leads import LeadStage
from clinictext.domain.phones import PhoneStatus
from clinictext.domain.replies import in_conversation
from clinictext.domain.statuses import Status
from clinictext.services import consent as consent_service
from clinictext.services.leads import get_lead
from clinictext.services.numbers import list_numbers
from clinictext.services.orgs import get_org
from clinictext.services.patients import get_patient
from clinictext.store.models import Message, Organization, Patient

# Staff-typed message kinds, which the monthly manual spend limit covers.
MANUAL_KINDS = ("manual", "lead")
_NOT_BILLED = (Status.FAILED.value, Status.CANCELED.value)


@dataclass(frozen=True)
class Verdict:
    patient: Patient
    organization: Organization
    channel: Channel
    kind: SendKind
    checks: list[Check]
    senders: list[SenderFact]

    @property
    def ok(self) -> bool:
        return can_text(self.checks)

    @property
    def sender(self) -> SenderFact | None:
        """The number the text would go out from: the first verified one."""
        return next((s for s in self.senders if s.verification is Verification.VERIFIED), None)


def micros_to_usd(micros: int) -> Decimal:
    return (Decimal(micros) / Decimal(1_000_000)).quantize(Decimal("0.0001"))


def month_start(org: Organization, now: datetime) -> datetime:
    local = now.astimezone(ZoneInfo(org.timezone))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def manual_spend_micros(session: Session, org: Organization, now: datetime) -> int:
    """What staff-typed texts cost this calendar month (organization's time zone)."""
    total = session.scalar(
        select(func.coalesce(func.sum(Message.cost_micros), 0)).where(
            Message.organization_id == org.id,
            Message.direction == "outbound",
            Message.kind.in_(MANUAL_KINDS),
            Message.status.not_in(_NOT_BILLED),
            Message.created_at >= month_start(org, now),
        )
    )
    return int(total or 0)


def evaluate_patient(
    session: Session,
    org_id: int,
    patient_id: int,
    channel: Channel,
    kind: SendKind,
    *,
    now: datetime,
    segments: int = 0,
) -> Verdict:
    """The full checklist for texting ``patient_id`` on ``channel``; ``segments`` prices it."""
    org = get_org(session, org_id)
    patient = get_patient(session, org_id, patient_id)
    senders = [
        SenderFact(n.number, n.kind, Verification(n.verification), n.id)
        for n in list_numbers(session, org_id, channel)
    ]
    lead = get_lead(session, org_id, patient_id)
    limit = org.manual_spend_limit_cents
    facts = TextingFacts(
        sms_enabled=org.sms_enabled,
        registration=Registration(org.messaging_registration),
        channel=channel,
        kind=kind,
        senders=senders,
        phone=patient.phone,
        phone_status=PhoneStatus(patient.phone_status),
        phone_reason=patient.phone_reason,
        consent=consent_service.current(session, org_id, patient.phone),
        lead_stage=LeadStage(lead.stage) if lead else None,
        lead_substatus=lead.substatus if lead else None,
        month_spend_usd=(
            micros_to_usd(manual_spend_micros(session, org, now))
            if kind is SendKind.MANUAL
            else Decimal(0)
        ),
        spend_limit_usd=None if limit is None else Decimal(limit) / 100,
        message_cost_usd=micros_to_usd(segments * org.segment_price_micros),
        in_conversation=in_conversation(patient.last_inbound_at, now),
    )
    return Verdict(patient, org, channel, kind, evaluate(facts), senders)
