"""Sending a text: run the checklist, then queue the message, its history and its commlog."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import ParamSpec

from sqlalchemy.orm import Session

from clinictext.domain.checklist import Channel, SenderFact, SendKind
from clinictext.domain.content import BodyRefused, check_body
from clinictext.domain.links import LinkFinding, LinkPolicy, link_finding
from clinictext.domain.segments import count_segments
from clinictext.domain.statuses import Status
from clinictext.services import audit
from clinictext.services.clock import utcnow
from clinictext.services.eligibility import OrgFacts, evaluate_patient
from clinictext.services.errors import CannotText, Invalid
from clinictext.services.messages import store_new, store_new_audited
from clinictext.services.scheduling import slot_for
from clinictext.store.models import Message, Organization, Patient, SenderNumber

P = ParamSpec("P")

# Conversations go before bulk texts of the same sender number.
LANE_CONVERSATION = 0
LANE_BULK = 1


class LinkBlocked(Invalid):
    """A staff text with a link, and the organization blocks links; ``finding`` says which."""

    code = "link_blocked"


class HeldTooLate(CannotText):
    """The send window or the frequency cap would hold the text past ``not_after``.

    ``slot`` is when it would have gone out and ``hold`` the scheduler's sentence saying
    why; nothing was written.
    """

    code = "held_too_late"

    def __init__(self, slot: datetime, hold: str | None) -> None:
        super().__init__(
            f"The text would be held until {slot.isoformat()}, later than it may go out."
            + (f" {hold}" if hold else "")
        )
        self.slot = slot
        self.hold = hold


def message_kind(channel: Channel, send_kind: SendKind) -> str:
    """The stored message kind: staff texts are 'lead' or 'manual' by channel."""
    if send_kind is SendKind.MANUAL:
        return "lead" if channel is Channel.LEAD else "manual"
    return send_kind.value


@dataclass(frozen=True)
class Queued:
    """A text just queued, with what its answer shows besides the message itself: the
    detail of its first status event, its sender number and its organization. The answer
    is built from these instead of reading back the rows just written."""

    message: Message
    detail: str | None
    sender: SenderFact
    organization: OrgFacts


def queue_text(
    session: Session,
    org_id: int,
    patient_id: int,
    channel: Channel,
    body: str,
    *,
    actor: str,
    send_kind: SendKind = SendKind.MANUAL,
    now: datetime | None = None,
    appointment_id: int | None = None,
    rule_id: int | None = None,
    campaign_id: int | None = None,
    not_after: datetime | None = None,
) -> Queued:
    """Queue one outbound text, or raise ``CannotText`` with every check and write nothing.

    ``appointment_id`` and ``rule_id`` record which appointment rule produced the text (the
    database allows one text per pair), ``campaign_id`` which campaign. With ``not_after``,
    a text the send window or the frequency cap would hold past that moment is refused
    with ``HeldTooLate``. Returns the message with what the answer to the staff member
    shows (``Queued``); ``send`` returns the message alone.
    """
    now = now or utcnow()
    try:
        body = check_body(body)
    except BodyRefused as err:
        raise Invalid(str(err), code="invalid_body", field="body") from None
    info = count_segments(body)
    verdict = evaluate_patient(
        session, org_id, patient_id, channel, send_kind, now=now, segments=info.segments
    )
    if not verdict.ok:
        failed = [c.id for c in verdict.checks if not c.ok]
        raise CannotText(
            "This patient cannot be texted right now: "
            + "; ".join(c.detail for c in verdict.checks if not c.ok),
            checks=verdict.checks,
            failed=failed,
        )
    sender = verdict.sender
    assert sender is not None  # the sender_number check passed
    kind = message_kind(channel, send_kind)
    patient, org = verdict.patient, verdict.organization
    links = _link_policy(org, body) if send_kind is SendKind.MANUAL else None
    slot = slot_for(session, org, patient, send_kind, now)
    if not_after is not None and slot.at > not_after:
        raise HeldTooLate(slot.at, slot.reason)
    held = slot.at > now
    message = Message(
        organization_id=org_id,
        patient_id=patient.id,
        appointment_id=appointment_id,
        rule_id=rule_id,
        campaign_id=campaign_id,
        sender_number_id=sender.id,
        direction="outbound",
        kind=kind,
        channel=channel.value,
        lane=LANE_CONVERSATION if send_kind is SendKind.MANUAL else LANE_BULK,
        body=body,
        encoding=info.encoding,
        segments=info.segments,
        cost_micros=info.segments * org.segment_price_micros,
        to_phone=patient.phone,
        from_phone=sender.number,
        status=(Status.SCHEDULED if held else Status.QUEUED).value,
        due_at=slot.at,
        attempts=0,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    detail = slot.reason if held else None
    # The text, its first history row, its commlog and its audit entry: on PostgreSQL
    # one statement.
    store_new_audited(
        session,
        message,
        audit.row(
            org_id,
            actor,
            "message.queued",
            "message",
            None,
            {
                "patient_id": patient.id,
                "channel": channel.value,
                "kind": kind,
                **({"findings": [links.code]} if links else {}),
                **({"appointment_id": appointment_id, "rule_id": rule_id} if rule_id else {}),
            },
            at=now,
        ),
        detail,
    )
    session.flush()
    return Queued(message, detail, sender, org)


def _message_only(queue: Callable[P, Queued]) -> Callable[P, Message]:
    def send(*args: P.args, **kwargs: P.kwargs) -> Message:
        return queue(*args, **kwargs).message

    send.__doc__ = "``queue_text``, returning the message alone."
    return send


send = _message_only(queue_text)


def _link_policy(org: OrgFacts, body: str) -> LinkFinding | None:
    """Apply the organization's link policy to a staff text: ``LinkBlocked`` under block,
    the warning finding under warn, None without a link."""
    finding = link_finding(body, LinkPolicy(org.url_policy or LinkPolicy.WARN))
    if finding is not None and finding.severity == "block":
        raise LinkBlocked(finding.message, finding=asdict(finding))
    return finding


SYSTEM_ACTOR = "clinictext"


def send_reply(
    session: Session,
    patient: Patient,
    sender: SenderNumber,
    kind: str,
    body: str,
    now: datetime,
) -> Message:
    """Queue clinictext's own answer to a patient's text, from the number they texted.

    This is the one path around the checklist: a keyword confirmation must reach a patient
    who just opted out (exactly once), and a HELP or lead auto-reply answers a text the
    patient sent to this very number. Its kind (``keyword_reply`` or ``auto_reply``) says so.
    """
    assert patient.phone is not None
    org = session.get(Organization, patient.organization_id)
    assert org is not None
    info = count_segments(body)
    message = Message(
        organization_id=patient.organization_id,
        patient_id=patient.id,
        sender_number_id=sender.id,
        direction="outbound",
        kind=kind,
        channel=sender.purpose,
        lane=LANE_CONVERSATION,
        body=body,
        encoding=info.encoding,
        segments=info.segments,
        cost_micros=info.segments * org.segment_price_micros,
        to_phone=patient.phone,
        from_phone=sender.number,
        status=Status.QUEUED.value,
        due_at=now,
        attempts=0,
        created_by=SYSTEM_ACTOR,
        created_at=now,
        updated_at=now,
    )
    store_new(session, message)
    return message
