"""Loads what the can-text checklist needs for one patient and asks the domain."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Label, Table, bindparam, func, select
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
from clinictext.services.numbers import sender_facts
from clinictext.services.orgs import get_org
from clinictext.services.patients import get_patient
from clinictext.store.models import (
    Lead,
    ManualSpend,
    Message,
    Organization,
    Patient,
    table_of,
)

# Staff-typed message kinds, which the monthly manual spend limit covers. The running
# totals' triggers (migration 0007) name the same kinds and statuses.
MANUAL_KINDS = ("manual", "lead")
_NOT_BILLED = (Status.FAILED.value, Status.CANCELED.value)
QUARTER_HOUR = 900  # seconds; the running totals' unit of time


class PatientFacts(NamedTuple):
    """What texting a patient reads of them. A plain row, not a tracked ``Patient``: every
    text reads it, and the ORM's objects cost more than the statement (measured on
    PostgreSQL: 300 µs of CPU for the patient, organization and lead as objects, 175 as
    one plain row)."""

    id: int
    organization_id: int
    first_name: str
    last_name: str
    phone: str | None
    phone_status: str
    phone_reason: str
    timezone: str | None
    last_inbound_at: datetime | None


class OrgFacts(NamedTuple):
    """What texting reads of the organization (see ``PatientFacts``)."""

    id: int
    timezone: str
    sms_enabled: bool
    messaging_registration: str
    manual_spend_limit_cents: int | None
    segment_price_micros: int
    url_policy: str
    send_window_start: str
    send_window_end: str
    automated_daily_cap: int
    automated_weekly_cap: int


@dataclass(frozen=True)
class Verdict:
    patient: PatientFacts
    organization: OrgFacts
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


def month_start(org: Organization | OrgFacts, now: datetime) -> datetime:
    local = now.astimezone(ZoneInfo(org.timezone))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def manual_spend_micros(session: Session, org: Organization | OrgFacts, now: datetime) -> int:
    """What staff-typed texts cost this calendar month (organization's time zone).

    Read from the running totals per quarter hour (``ManualSpend``), which the database
    keeps in step with every write of a text: one indexed range of at most a month of
    quarter hours, however many texts the organization has sent. A month that starts off
    a quarter hour (no time zone in use today) adds its first minutes from the texts.
    """
    start = month_start(org, now)
    epoch = int(start.timestamp())
    first_quarter = -(-epoch // QUARTER_HOUR)  # the first whole quarter hour from start
    total = session.scalar(_QUARTER_HOURS_SPENT, {"org_id": org.id, "first_quarter": first_quarter})
    if start.timestamp() != first_quarter * QUARTER_HOUR:
        total = (total or 0) + (
            session.scalar(
                select(func.coalesce(func.sum(Message.cost_micros), 0)).where(
                    *_billed(org.id),
                    Message.created_at >= start,
                    Message.created_at < datetime.fromtimestamp(first_quarter * QUARTER_HOUR, UTC),
                )
            )
            or 0
        )
    return int(total or 0)


def manual_spend_scan(session: Session, org: Organization, now: datetime) -> int:
    """The same figure summed from every text of the month: what the totals must equal."""
    total = session.scalar(
        select(func.coalesce(func.sum(Message.cost_micros), 0)).where(
            *_billed(org.id), Message.created_at >= month_start(org, now)
        )
    )
    return int(total or 0)


def _billed(org_id: int) -> tuple[ColumnElement[bool], ...]:
    return (
        Message.organization_id == org_id,
        Message.direction == "outbound",
        Message.kind.in_(MANUAL_KINDS),
        Message.status.not_in(_NOT_BILLED),
    )


def _columns(table: Table, names: tuple[str, ...], prefix: str = "") -> list[Label[Any]]:
    return [table.c[name].label(prefix + name) for name in names]


_P, _O, _L = table_of(Patient), table_of(Organization), table_of(Lead)
# The send path's reads are built once: building a statement costs more than running it.
_PATIENT_ORG_LEAD = (
    select(
        *_columns(_P, PatientFacts._fields),
        *_columns(_O, OrgFacts._fields, "org_"),
        _L.c.stage.label("lead_stage"),
        _L.c.substatus.label("lead_substatus"),
    )
    .select_from(
        _P.join(_O, _O.c.id == _P.c.organization_id).outerjoin(
            _L, (_L.c.patient_id == _P.c.id) & (_L.c.organization_id == bindparam("org_id"))
        )
    )
    .where(_P.c.id == bindparam("patient_id"), _P.c.organization_id == bindparam("org_id"))
)
_PATIENT_FIELDS = len(PatientFacts._fields)
_ORG_FIELDS = len(OrgFacts._fields)
_QUARTER_HOURS_SPENT = select(func.coalesce(func.sum(ManualSpend.micros), 0)).where(
    ManualSpend.organization_id == bindparam("org_id"),
    ManualSpend.quarter_hour >= bindparam("first_quarter"),
)


def _patient_org_lead(
    session: Session, org_id: int, patient_id: int
) -> tuple[PatientFacts, OrgFacts, tuple[str | None, str | None]]:
    """The patient, their organization and their lead's stage and substatus (None without
    a lead) in one query; the same ``NotFound`` as ``get_org`` and ``get_patient`` when one
    is missing."""
    row = (
        session.connection()
        .execute(_PATIENT_ORG_LEAD, {"org_id": org_id, "patient_id": patient_id})
        .first()
    )
    if row is None:
        get_org(session, org_id)
        get_patient(session, org_id, patient_id)
        raise AssertionError("unreachable: one of them raised NotFound")
    org_end = _PATIENT_FIELDS + _ORG_FIELDS
    return (
        PatientFacts._make(row[:_PATIENT_FIELDS]),
        OrgFacts._make(row[_PATIENT_FIELDS:org_end]),
        (row[org_end], row[org_end + 1]),
    )


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
    patient, org, (lead_stage, lead_substatus) = _patient_org_lead(session, org_id, patient_id)
    senders = sender_facts(session, org_id, channel)
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
        lead_stage=LeadStage(lead_stage) if lead_stage is not None else None,
        lead_substatus=lead_substatus,
        # Without a limit the figure is not shown, so it is not read.
        month_spend_usd=(
            micros_to_usd(manual_spend_micros(session, org, now))
            if kind is SendKind.MANUAL and limit is not None
            else Decimal(0)
        ),
        spend_limit_usd=None if limit is None else Decimal(limit) / 100,
        message_cost_usd=micros_to_usd(segments * org.segment_price_micros),
        in_conversation=in_conversation(patient.last_inbound_at, now),
    )
    return Verdict(patient, org, channel, kind, evaluate(facts), senders)
