"""Receiving a text: find the organization and patient, store it once, with its commlog.

A batch of texts is received in one transaction (``services.webhook_batch``). What each
text looks up is read for the whole batch first (``preload``): which provider ids are
stored already, the numbers texted and their organizations, the patients by phone and
the consent of each phone. The answers are kept in the session's ``info`` for the batch,
with a reference to every object read: the session's identity map holds objects only
weakly, so an organization or patient nobody referenced between two texts was read
again by each.

A batch is then received in two passes: every new text is stored first, all in one
``INSERT ... RETURNING id`` (``store_all``; on PostgreSQL an INSERT of its own for each
text was a round trip each), and then each is reacted to in arrival order (``react``:
keywords, consent, replies, confirmations), so each still sees what the texts before it
changed. Their
history rows, commlogs and patients' unread counts are written with the batch's, a
statement per table for the whole batch. The replies a batch sends are stored after all
of its received texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from clinictext.domain.keywords import Keyword, classify
from clinictext.domain.phones import PhoneError, parse_phone
from clinictext.domain.segments import count_segments
from clinictext.domain.statuses import Status
from clinictext.providers.base import InboundText
from clinictext.services import confirmations
from clinictext.services import consent as consent_service
from clinictext.services import patients as patient_service
from clinictext.services.messages import store_many
from clinictext.services.replies import after_inbound
from clinictext.store.models import (
    Message,
    Organization,
    Patient,
    SenderNumber,
)

PATIENT_ACTOR = "patient"


@dataclass(frozen=True)
class Received:
    message: Message | None  # None when no organization owns the number texted
    duplicate: bool
    replies: list[Message] = field(default_factory=list)

    @property
    def opts_out(self) -> bool:
        """A newly stored opt-out keyword: the patient's texts stop here, so its answer
        waits for the texts handed over before it (``consent.settle_after_opt_out``). A
        later text finds nothing new in flight."""
        return (
            self.message is not None
            and not self.duplicate
            and classify(self.message.body) is Keyword.OPT_OUT
        )


# What a batch of texts read up front (``preload``), kept in the session's ``info`` for
# the length of the batch's transaction.
_NEW_SIDS = "clinictext_inbound_new_sids"  # provider ids not stored when the batch began
_SENDERS = "clinictext_inbound_senders"  # number texted -> its sender number, or None
# (organization id, sender's phone) -> the patient a text from it belongs to, or None
_PATIENTS = "clinictext_inbound_patients"
_ORGS = "clinictext_inbound_orgs"  # the organizations texted (held for the identity map)


# The batch's reads, built once (a batch arrives many times a second, and building a
# statement cost more than running it).
_STORED_SIDS = select(Message.provider_id).where(
    Message.provider_id.in_(bindparam("sids", expanding=True))
)
_SENDERS_OF = select(SenderNumber).where(
    SenderNumber.number.in_(bindparam("numbers", expanding=True))
)
_ORGS_OF = select(Organization).where(Organization.id.in_(bindparam("ids", expanding=True)))
_PATIENTS_OF = (
    select(Patient)
    .where(
        Patient.organization_id.in_(bindparam("orgs", expanding=True)),
        Patient.phone.in_(bindparam("phones", expanding=True)),
    )
    .order_by(Patient.unknown_sender, Patient.id)
)


@lru_cache(maxsize=4096)
def _sender_phone(raw: str) -> tuple[str, str, str]:
    """The sender's phone as stored, its status and the reason for it (remembered: a
    batch parses each sender once to preload and again to receive, and parsing is most
    of what reading a phone costs)."""
    try:
        parsed = parse_phone(raw)
    except PhoneError:
        return raw, "invalid", "The sender's number is not a phone."
    return parsed.e164, parsed.status.value, parsed.reason


def preload(session: Session, texts: list[InboundText]) -> None:
    """Read, in a fixed number of queries, what a batch of texts needs before each is
    received: which of them are stored already, the numbers they were sent to and their
    organizations, the patients they come from and the consent of their phones."""
    if not texts:
        return
    sids = {t.provider_id for t in texts}
    stored = set(session.scalars(_STORED_SIDS, {"sids": list(sids)}))
    numbers = {t.to for t in texts}
    senders = {s.number: s for s in session.scalars(_SENDERS_OF, {"numbers": list(numbers)})}
    session.info[_NEW_SIDS] = sids - stored
    session.info[_SENDERS] = {n: senders.get(n) for n in numbers}
    keys = {
        (sender.organization_id, _sender_phone(t.from_)[0])
        for t in texts
        if t.provider_id not in stored and (sender := senders.get(t.to)) is not None
    }
    if not keys:
        return
    org_ids = {org_id for org_id, _ in keys}
    session.info[_ORGS] = list(session.scalars(_ORGS_OF, {"ids": list(org_ids)}))
    patients: dict[tuple[int, str], Patient | None] = dict.fromkeys(keys)
    candidates = session.scalars(
        _PATIENTS_OF, {"orgs": list(org_ids), "phones": list({phone for _, phone in keys})}
    )
    for patient in candidates:
        key = (patient.organization_id, patient.phone or "")
        if key in patients and patients[key] is None:  # the first is the one a text finds
            patients[key] = patient
    session.info[_PATIENTS] = patients
    consent_service.preload(session, keys)


def forget_preloaded(session: Session) -> None:
    """After a rollback to a savepoint the preloaded answers may be stale: ask again."""
    for key in (_NEW_SIDS, _SENDERS, _PATIENTS, _ORGS):
        session.info.pop(key, None)
    consent_service.forget_preloaded(session)


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


def _patient(session: Session, org_id: int, phone: str) -> Patient | None:
    patients: dict[tuple[int, str], Patient | None] | None = session.info.get(_PATIENTS)
    if patients is not None and (org_id, phone) in patients:
        return patients[(org_id, phone)]
    return session.scalar(
        select(Patient)
        .where(Patient.organization_id == org_id, Patient.phone == phone)
        .order_by(Patient.unknown_sender, Patient.id)
        .limit(1)
    )


def receive(session: Session, text: InboundText, at: datetime) -> Received:
    """Store an inbound text once per provider id and react to it; unknown senders become
    patients."""
    return react(session, store_all(session, [(text, at)])[0], at)


def store_all(session: Session, texts: Sequence[tuple[InboundText, datetime]]) -> list[Received]:
    """Store each text once per provider id (a text received at ``at``), in one INSERT for
    all of them (``messages.store_many``); one answer per text, in order, its replies not
    yet made (``react``). A second copy of a text, here or stored before, is a duplicate of
    the first; a text to a number no organization owns is not stored."""
    received: list[Received] = []
    new: list[Message] = []
    stored_here: dict[str, Message] = {}
    for text, at in texts:
        existing = stored_here.get(text.provider_id) or _stored(session, text.provider_id)
        if existing is not None:
            received.append(Received(existing, duplicate=True))
            continue
        message = _new_message(session, text, at)
        if message is not None:
            stored_here[text.provider_id] = message
            new.append(message)
        received.append(Received(message, duplicate=False))
    store_many(session, new)
    return received


def react(session: Session, received: Received, at: datetime) -> Received:
    """What a newly stored text sets off: keywords, consent, the unread count, the
    replies; an appointment confirmed by a "C" or a confirm code. Texts are reacted to in
    the order they arrived, after the batch is stored."""
    message = received.message
    if message is None or received.duplicate:
        return received
    replies = after_inbound(session, message, at)
    # After the keywords: a "C" or a confirm code confirms an appointment and is answered.
    replies += confirmations.after_inbound(session, message, at)
    return Received(message, duplicate=False, replies=replies)


def _new_message(session: Session, text: InboundText, at: datetime) -> Message | None:
    """The message a new text becomes (not stored yet), or None when no organization owns
    the number texted. A sender no patient has becomes an unknown-sender patient."""
    sender = _sender(session, text.to)
    if sender is None:
        return None
    org_id = sender.organization_id
    phone, phone_status, reason = _sender_phone(text.from_)
    patient = _patient(session, org_id, phone)
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
        patients: dict[tuple[int, str], Patient | None] | None = session.info.get(_PATIENTS)
        if patients is not None:
            patients[(org_id, phone)] = patient  # the next text from it finds this one
    info = count_segments(text.body)
    return Message(
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
