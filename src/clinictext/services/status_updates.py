"""Applying what the provider reports about a message: forward-only, with side effects.

Every report, however late, duplicated or out of order, is decided by
``domain.reports.decide`` and applied by ``apply_report``: the dispatcher's send answers,
status callbacks (``receive_callback``), reconciliation and refresh all come through it.
A report that changes nothing writes nothing. Error codes have consequences (see
``domain.carrier_errors``): a carrier opt-out records the opt-out, an invalid or landline
number flags the patient's phone so the checklist explains it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from clinictext.domain.campaigns import Retry, on_retry
from clinictext.domain.carrier_errors import Effect, lookup
from clinictext.domain.consent import ConsentAction, ConsentState, OptOutSource
from clinictext.domain.phones import PhoneStatus
from clinictext.domain.reports import Recorded, Report, Verb, decide
from clinictext.domain.retry import EXPIRED, RetryPolicy
from clinictext.domain.statuses import Status, advance
from clinictext.providers.base import StatusReport
from clinictext.services import audit, message_events
from clinictext.services import consent as consent_service
from clinictext.services.outbox import cancel
from clinictext.store.db import LockingSelect, for_update
from clinictext.store.models import (
    Appointment,
    Campaign,
    CampaignRecipient,
    Message,
    ParkedCallback,
    Patient,
    SupersededSid,
)

CARRIER_ACTOR = "carrier"


def apply(
    session: Session,
    message: Message,
    reported: Status,
    at: datetime,
    *,
    error_code: str | None = None,
    error_message: str | None = None,
    provider_id: str | None = None,
    detail: str | None = None,
) -> bool:
    """Move ``message`` forward to ``reported`` if that is forward; True when it changed."""
    if provider_id and message.provider_id is None:
        message.provider_id = provider_id
    current = Status(message.status)
    new = advance(current, reported)
    if new is current:
        return False
    message.status = new.value
    message.updated_at = at
    message.claimed_by = None
    message.lease_until = None
    if new in (Status.FAILED, Status.UNDELIVERED) or error_code:
        entry = lookup(error_code)
        message.error_code = error_code
        message.error_message = error_message or (entry.meaning if entry else None)
    message_events.record(session, message, new.value, at, error_code=error_code, detail=detail)
    if error_code and new in (Status.FAILED, Status.UNDELIVERED):
        _side_effect(session, message, error_code, at)
    return True


def _side_effect(session: Session, message: Message, code: str, at: datetime) -> None:
    entry = lookup(code)
    if entry is None or entry.effect is None:
        return
    patient = session.get(Patient, message.patient_id)
    if patient is None or patient.phone != message.to_phone:
        return  # the phone was edited since: the report is about the old number
    if entry.effect is Effect.OPT_OUT:
        current = consent_service.current(session, message.organization_id, patient.phone)
        if current.state is not ConsentState.OPTED_OUT:
            consent_service.record(
                session,
                message.organization_id,
                patient.id,
                action=ConsentAction.OPT_OUT,
                source=OptOutSource.CARRIER.value,
                evidence=f"The carrier refused message {message.id} with error {code}: "
                "the recipient opted out at the carrier.",
                actor=CARRIER_ACTOR,
                by_patient=True,
                now=at,
            )
    elif entry.effect in (Effect.PHONE_INVALID, Effect.PHONE_LANDLINE):
        status = (
            PhoneStatus.INVALID if entry.effect is Effect.PHONE_INVALID else PhoneStatus.LANDLINE
        )
        if patient.phone_status != status.value:
            patient.phone_status = status.value
            patient.phone_reason = f"The carrier reported that {entry.meaning} (error {code})."
            patient.updated_at = at
            audit.record(
                session,
                patient.organization_id,
                CARRIER_ACTOR,
                "patient.phone_flagged",
                "patient",
                patient.id,
                {"status": status.value, "error_code": code, "message_id": message.id},
                at=at,
            )


# What a batch of callbacks read up front (``preload_for_callbacks``), kept in the
# session's ``info`` for the length of the batch's transaction.
_SUPERSEDED = "clinictext_superseded"  # provider id -> whether it was given up for a retry
_LOADED = "clinictext_callback_messages"  # (message id -> message, provider ids looked for)


def preload_for_callbacks(
    session: Session, callbacks: list[tuple[str, int | None]], more: Iterable[int] = ()
) -> dict[int, Message]:
    """Read, in two queries, what a batch of callbacks ``(provider id, message id)`` needs:
    the attempts among them given up for a retry, and the messages they name (locked, on
    PostgreSQL, in id order so that two batches never wait for each other in a circle).
    The messages whose ids are in ``more`` are read (and locked) with them.

    ``find_for_callback`` and ``is_superseded`` then answer from these rows; the batch's
    own changes (a retry, a provider id recorded) are kept up to date in them. Returns the
    messages read, by id.
    """
    provider_ids = {pid for pid, _ in callbacks}
    message_ids = {mid for _, mid in callbacks if mid is not None} | set(more)
    if not provider_ids and not message_ids:
        return {}
    given_up(session, provider_ids)
    # One of three statements, so that no IN list is empty: an empty one is a subquery,
    # and inside an OR it keeps PostgreSQL from reading either side by its index.
    if message_ids and provider_ids:
        query, params = _NAMED, {"ids": list(message_ids), "provider_ids": list(provider_ids)}
    elif message_ids:
        query, params = _NAMED_BY_ID, {"ids": list(message_ids)}
    else:
        query, params = _NAMED_BY_PROVIDER_ID, {"provider_ids": list(provider_ids)}
    by_id = {m.id: m for m in session.scalars(query.on(session), params)}
    session.info[_LOADED] = (by_id, provider_ids)
    return by_id


def given_up(session: Session, provider_ids: Iterable[str]) -> set[str]:
    """Those of ``provider_ids`` whose attempt was given up for a retry, in one query; the
    answers are kept for ``is_superseded`` for the rest of the transaction."""
    cache: dict[str, bool] = session.info.setdefault(_SUPERSEDED, {})
    wanted = list(set(provider_ids))
    if not wanted:
        return set()
    found = set(session.scalars(_GIVEN_UP, {"provider_ids": wanted}))
    cache.update({pid: pid in found for pid in wanted})
    return found


# Built once: a dispatcher records a batch many times a second, and building these cost
# more than running them for a small batch.
_GIVEN_UP = select(SupersededSid.provider_id).where(
    SupersededSid.provider_id.in_(bindparam("provider_ids", expanding=True))
)
_BY_ID = Message.id.in_(bindparam("ids", expanding=True))
_BY_PROVIDER_ID = Message.provider_id.in_(bindparam("provider_ids", expanding=True))
_NAMED = LockingSelect(select(Message).where(or_(_BY_ID, _BY_PROVIDER_ID)).order_by(Message.id))
_NAMED_BY_ID = LockingSelect(select(Message).where(_BY_ID).order_by(Message.id))
_NAMED_BY_PROVIDER_ID = LockingSelect(select(Message).where(_BY_PROVIDER_ID).order_by(Message.id))
_PARKED = (
    select(ParkedCallback)
    .where(
        ParkedCallback.provider_id.in_(bindparam("provider_ids", expanding=True)),
        ParkedCallback.matched_at.is_(None),
    )
    .order_by(ParkedCallback.id)
)


def forget_preloaded(session: Session) -> None:
    """After a rollback to a savepoint the preloaded answers may be stale: ask again."""
    session.info.pop(_SUPERSEDED, None)
    session.info.pop(_LOADED, None)


def _find_preloaded(
    session: Session, provider_id: str, message_id: int | None
) -> tuple[bool, Message | None]:
    """(known, message): ``known`` False when the preloaded rows cannot answer."""
    loaded: tuple[dict[int, Message], set[str]] | None = session.info.get(_LOADED)
    if loaded is None:
        return False, None
    by_id, provider_ids = loaded
    if message_id is not None:
        message = by_id.get(message_id)
        if message is None:
            return False, None
        if message.provider_id in (None, provider_id):
            return True, message
    if provider_id not in provider_ids:
        return False, None
    # Every message that had this provider id was read; one that took it since is one
    # of those read (the batch's own change), so the answer is among them.
    return True, next((m for m in by_id.values() if m.provider_id == provider_id), None)


def find_for_callback(session: Session, provider_id: str, message_id: int | None) -> Message | None:
    """The message a callback is about: by the id in its URL, else by the provider's id.

    The row is locked (PostgreSQL) so that the report and the dispatcher's own record of
    the same text apply one after the other, never one over the other.
    """
    known, found = _find_preloaded(session, provider_id, message_id)
    if known:
        return found
    if message_id is not None:
        message = session.scalar(
            for_update(session, select(Message).where(Message.id == message_id))
        )
        if message is not None and message.provider_id in (None, provider_id):
            return message
    return session.scalar(
        for_update(session, select(Message).where(Message.provider_id == provider_id))
    )


def park(
    session: Session, provider_id: str, status: Status, error_code: str | None, at: datetime
) -> None:
    session.add(
        ParkedCallback(
            provider_id=provider_id, status=status.value, error_code=error_code, received_at=at
        )
    )


def match_parked(
    session: Session,
    provider_ids: list[str],
    at: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> int:
    """Apply parked callbacks whose message is now known; returns how many matched.

    A parked callback about an attempt given up for a retry is settled as matched: its
    news changes nothing.
    """
    if not provider_ids:
        return 0
    parked = list(session.scalars(_PARKED, {"provider_ids": provider_ids}))
    matched = 0
    for row in parked:
        message = find_for_callback(session, row.provider_id, None)
        if message is not None:
            report = Report(row.provider_id, Status(row.status), row.error_code)
            apply_report(session, message, report, at, policy, rng)
        elif not is_superseded(session, row.provider_id):
            continue
        row.matched_at = at
        matched += 1
    return matched


def requeue(session: Session, message: Message, due: datetime, now: datetime, why: str) -> None:
    """Back to ``queued`` for another attempt.

    This is the one deliberate backward step: a retry. Provider reports still only move a
    status forward; a superseded attempt's late callbacks are ignored (``is_superseded``).
    """
    if message.provider_id:
        if not is_superseded(session, message.provider_id):
            session.add(
                SupersededSid(provider_id=message.provider_id, message_id=message.id, at=now)
            )
            cache = session.info.get(_SUPERSEDED)
            if cache is not None:
                cache[message.provider_id] = True
        message.provider_id = None
    message.status = Status.QUEUED.value
    message.due_at = due
    message.claimed_by = None
    message.lease_until = None
    message.handed_at = None
    message.updated_at = now
    message_events.record(session, message, Status.QUEUED.value, now, detail=why)
    if message.campaign_id is not None or message.appointment_id is not None:
        _follow_origin(session, message, due, now)


RETRY_CANCELED = "Canceled: its campaign was canceled, or its appointment is over."


def _follow_origin(session: Session, message: Message, due: datetime, now: datetime) -> None:
    """A campaign or appointment text back in the queue follows its campaign or appointment
    as it is now: held while the campaign is paused, canceled once it or the appointment
    is over (``domain.campaigns.on_retry``)."""
    campaign_status = (
        session.scalar(select(Campaign.status).where(Campaign.id == message.campaign_id))
        if message.campaign_id is not None
        else None
    )
    appointment_status = (
        session.scalar(select(Appointment.status).where(Appointment.id == message.appointment_id))
        if message.appointment_id is not None
        else None
    )
    verdict = on_retry(campaign_status, appointment_status)
    if verdict is Retry.CANCEL:
        cancel(session, message, now, RETRY_CANCELED)
    elif verdict is Retry.HOLD:
        # As a pause holds it: no due time; resume puts it back at the time it was due.
        message.due_at = None
        session.execute(
            update(CampaignRecipient)
            .where(
                CampaignRecipient.campaign_id == message.campaign_id,
                CampaignRecipient.message_id == message.id,
            )
            .values(planned_at=due)
        )


def retry_or_expire(
    session: Session,
    message: Message,
    why: str,
    code: str | None,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
    final: Status = Status.FAILED,
) -> None:
    """Queue the text again after a backoff, or, past its validity, end it as ``final``."""
    if policy.expired(message.created_at, message.expires_at, now):
        hours = policy.validity.total_seconds() / 3600
        apply(
            session,
            message,
            final,
            now,
            error_code=code or EXPIRED,
            error_message=f"Not delivered within {hours:g} hours of retrying (last problem: {why})",
        )
        return
    delay = policy.delay(message.attempts, rng)
    requeue(session, message, now + delay, now, f"retrying in {delay.total_seconds():.0f} s: {why}")


def is_superseded(session: Session, provider_id: str) -> bool:
    cache: dict[str, bool] | None = session.info.get(_SUPERSEDED)
    if cache is not None and provider_id in cache:
        return cache[provider_id]
    return session.get(SupersededSid, provider_id) is not None


def apply_report(
    session: Session,
    message: Message,
    report: Report,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
    *,
    error_message: str | None = None,
    detail: str | None = None,
) -> Verb:
    """Apply one provider report about ``message`` as ``domain.reports.decide`` says."""
    recorded = Recorded(
        Status(message.status), message.provider_id, is_superseded(session, report.provider_id)
    )
    action = decide(recorded, report)
    if action.verb is Verb.RETRY:
        assert action.status is not None
        message.provider_id = report.provider_id  # given up by the retry: later news ignored
        entry = lookup(report.error_code)
        why = f"{entry.meaning if entry else 'a temporary error'} (error {report.error_code})"
        retry_or_expire(
            session, message, why, report.error_code, now, policy, rng, final=action.status
        )
    elif action.verb is Verb.ADVANCE:
        assert action.status is not None
        apply(
            session,
            message,
            action.status,
            now,
            error_code=report.error_code,
            error_message=error_message,
            provider_id=report.provider_id,
            detail=detail,
        )
    return action.verb


def report_of(callback: StatusReport) -> Report:
    """What a status callback reports, as ``decide`` reads it."""
    return Report(callback.provider_id, callback.status, callback.error_code)


def receive_callback(
    session: Session,
    callback: StatusReport,
    message_id: int | None,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> None:
    """A status callback: applied to its text, or parked until the text is known."""
    report = report_of(callback)
    if is_superseded(session, report.provider_id):
        return  # an attempt that was retried: its late news changes nothing
    message = find_for_callback(session, report.provider_id, message_id)
    if message is None:
        park(session, report.provider_id, report.status, report.error_code, now)
        return
    apply_report(session, message, report, now, policy, rng)
