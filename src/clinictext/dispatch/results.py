"""Recording what the provider answered for a batch of claimed texts, in one transaction."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinictext.domain.carrier_errors import is_transient, lookup
from clinictext.domain.statuses import Status
from clinictext.providers.base import SendOutcome
from clinictext.services import connector
from clinictext.services.status_updates import apply, match_parked
from clinictext.store.models import Message, MessageEvent

EXPIRED = "expired"


@dataclass(frozen=True)
class RetryPolicy:
    base: timedelta = timedelta(seconds=2)
    ceiling: timedelta = timedelta(minutes=5)
    validity: timedelta = timedelta(hours=4)

    def delay(self, attempts: int, rng: random.Random) -> timedelta:
        """Exponential backoff with full jitter around the nominal delay."""
        nominal = min(self.ceiling, self.base * (2 ** max(attempts - 1, 0)))
        return nominal * rng.uniform(0.5, 1.5)


@dataclass(frozen=True)
class Result:
    message_id: int
    outcome: SendOutcome | None  # None: not attempted (the provider went away mid-batch)


def requeue(session: Session, message: Message, due: datetime, now: datetime, why: str) -> None:
    """Back to ``queued`` for another try: the provider never accepted this text."""
    message.status = Status.QUEUED.value
    message.due_at = due
    message.claimed_by = None
    message.lease_until = None
    message.updated_at = now
    session.add(
        MessageEvent(
            organization_id=message.organization_id,
            message_id=message.id,
            status=Status.QUEUED.value,
            detail=why,
            at=now,
        )
    )


def _retry_or_expire(
    session: Session,
    message: Message,
    why: str,
    code: str | None,
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> None:
    expires = message.expires_at or (message.created_at + policy.validity)
    if now >= expires:
        hours = policy.validity.total_seconds() / 3600
        apply(
            session,
            message,
            Status.FAILED,
            now,
            error_code=code or EXPIRED,
            error_message=f"Could not be handed to the SMS provider within {hours:g} hours "
            f"(last problem: {why})",
        )
        return
    delay = policy.delay(message.attempts, rng)
    requeue(session, message, now + delay, now, f"retrying in {delay.total_seconds():.0f} s: {why}")


def record(
    session: Session,
    results: list[Result],
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
) -> None:
    """Apply every result; accepted texts become ``sent`` unless a callback got there first."""
    by_id = {
        m.id: m
        for m in session.scalars(
            select(Message).where(Message.id.in_([r.message_id for r in results]))
        )
    }
    accepted: list[str] = []
    for result in results:
        message = by_id.get(result.message_id)
        if message is None:
            continue
        outcome = result.outcome
        if outcome is None:
            if message.status == Status.SENDING.value:
                message.attempts -= 1
                requeue(session, message, now, now, "not attempted: the provider is unreachable")
            continue
        if outcome.log is not None:
            kind = (
                "ok" if outcome.provider_id else ("refused" if outcome.reachable else "unreachable")
            )
            connector.log_attempt(
                session, message.organization_id, message.id, outcome.log, kind, now
            )
        if outcome.provider_id:
            apply(
                session,
                message,
                outcome.status or Status.SENT,
                now,
                provider_id=outcome.provider_id,
            )
            accepted.append(outcome.provider_id)
        elif message.status != Status.SENDING.value:
            continue  # a callback or a reconciliation settled it meanwhile
        elif not outcome.reachable:
            why = outcome.error_message or "the SMS provider is unreachable"
            connector.note_error(session, message.organization_id, why, now)
            _retry_or_expire(session, message, why, outcome.error_code, now, policy, rng)
        elif is_transient(outcome.error_code):
            entry = lookup(outcome.error_code)
            why = entry.meaning if entry else (outcome.error_message or "a temporary error")
            _retry_or_expire(session, message, why, outcome.error_code, now, policy, rng)
        else:
            apply(
                session,
                message,
                Status.FAILED,
                now,
                error_code=outcome.error_code,
                error_message=outcome.error_message,
            )
    match_parked(session, accepted, now)
