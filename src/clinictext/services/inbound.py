"""Receiving a text: find the organization and patient, store it once, with its commlog."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinictext.domain.phones import PhoneError, parse_phone
from clinictext.domain.segments import count_segments
from clinictext.domain.statuses import Status
from clinictext.providers.base import InboundText
from clinictext.services import confirmations
from clinictext.services import patients as patient_service
from clinictext.services.messages import store_new
from clinictext.services.replies import after_inbound
from clinictext.store.models import Message, Patient, SenderNumber

PATIENT_ACTOR = "patient"


@dataclass(frozen=True)
class Received:
    message: Message | None  # None when no organization owns the number texted
    duplicate: bool
    replies: list[Message] = field(default_factory=list)


# What a batch of texts read up front (``preload``), kept in the session's ``info`` for
# the length of the batch's transaction.
_NEW_SIDS = "clinictext_inbound_new_sids"  # provider ids not stored when the batch began
_SENDERS = "clinictext_inbound_senders"  # number texted -> its sender number, or None


def preload(session: Session, texts: list[InboundText]) -> None:
    """Read, in two queries, what a batch of texts needs before each is received: which
    of them are stored already, and the numbers they were sent to."""
    if not texts:
        return
    sids = {t.provider_id for t in texts}
    stored = set(session.scalars(select(Message.provider_id).where(Message.provider_id.in_(sids))))
    numbers = {t.to for t in texts}
    senders = {
        s.number: s
        for s in session.scalars(select(SenderNumber).where(SenderNumber.number.in_(numbers)))
    }
    session.info[_NEW_SIDS] = sids - stored
    session.info[_SENDERS] = {n: senders.get(n) for n in numbers}


def forget_preloaded(session: Session) -> None:
    """After a rollback to a savepoint the preloaded answers may be stale: ask again."""
    session.info.pop(_NEW_SIDS, None)
    session.info.pop(_SENDERS, None)


def _stored(session: Session, provider_id: str) -> Message | None:
    new: set[str] | None = session.info.get(_NEW_SIDS)
    if new is not None and provider_id in new:
        new.discard(provider_id)  # stored by this text: a second copy in the batch is not new
        return None
    return session.scalar(select(Message).where(Message.provider_id == provider_id))


def _sender(session: Session, number: str) -> SenderNumber | None:
    senders: dict[str, SenderNumber | None] | None = session.info.get(_SENDERS)
    if senders is not None and number in senders:
        return senders[number]
    return session.scalar(select(SenderNumber).where(SenderNumber.number == number))


def receive(session: Session, text: InboundText, at: datetime) -> Received:
    """Store an inbound text once per provider id; unknown senders become patients."""
    existing = _stored(session, text.provider_id)
    if existing is not None:
        return Received(existing, duplicate=True)
    sender = _sender(session, text.to)
    if sender is None:
        return Received(None, duplicate=False)
    org_id = sender.organization_id
    try:
        parsed = parse_phone(text.from_)
        phone, phone_status, reason = parsed.e164, parsed.status.value, parsed.reason
    except PhoneError:
        phone, phone_status, reason = text.from_, "invalid", "The sender's number is not a phone."
    patient = session.scalar(
        select(Patient)
        .where(Patient.organization_id == org_id, Patient.phone == phone)
        .order_by(Patient.unknown_sender, Patient.id)
        .limit(1)
    )
    if patient is None:
        patient = patient_service.create_patient(
            session,
            org_id,
            first_name="Unknown",
            last_name="sender",
            phone=None,
            actor=PATIENT_ACTOR,
            unknown_sender=True,
        )
        patient.phone, patient.phone_status, patient.phone_reason = phone, phone_status, reason
    info = count_segments(text.body)
    message = Message(
        organization_id=org_id,
        patient_id=patient.id,
        sender_number_id=sender.id,
        direction="inbound",
        kind="manual",
        channel=sender.purpose,
        lane=0,
        body=text.body,
        encoding=info.encoding,
        segments=max(text.segments, info.segments),
        cost_micros=0,
        to_phone=text.to,
        from_phone=phone,
        status=Status.RECEIVED.value,
        provider_id=text.provider_id,
        attempts=0,
        created_by=PATIENT_ACTOR,
        created_at=at,
        updated_at=at,
    )
    store_new(session, message)
    replies = after_inbound(session, message, at)
    # After the keywords: a "C" or a confirm code confirms an appointment and is answered.
    replies += confirmations.after_inbound(session, message, at)
    return Received(message, duplicate=False, replies=replies)
