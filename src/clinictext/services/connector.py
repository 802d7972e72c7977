"""The connector to the SMS provider as staff see it: state, errors, acknowledge, re-drive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from clinictext.domain.connector import Attempt, ConnectorView, derive
from clinictext.domain.statuses import PENDING, Status
from clinictext.providers.base import CallLog
from clinictext.services import audit
from clinictext.store.models import ConnectorError, Message, ProviderAttempt, table_of

RECENT_ATTEMPTS = 20


@dataclass(frozen=True)
class ConnectorStatus:
    view: ConnectorView
    pending: int
    errors: list[ConnectorError]


def attempt_row(
    org_id: int, message_id: int | None, log: CallLog, outcome: str, at: datetime
) -> dict[str, Any]:
    """The ``provider_attempts`` row recording one provider call."""
    return {
        "organization_id": org_id,
        "message_id": message_id,
        "operation": log.operation,
        "outcome": outcome,
        "http_status": log.http_status,
        "elapsed_ms": round(log.elapsed_ms),
        "error": log.error,
        "request": log.request,
        "response": log.response,
        "at": at,
    }


def log_attempt(
    session: Session, org_id: int, message_id: int | None, log: CallLog, outcome: str, at: datetime
) -> None:
    session.add(ProviderAttempt(**attempt_row(org_id, message_id, log, outcome, at)))


def log_attempts(session: Session, rows: list[dict[str, Any]]) -> None:
    """Many calls at once (a worker's batch of answers): one INSERT for all of them, not
    an object and an INSERT ... RETURNING for each."""
    if rows:
        session.execute(insert(_ATTEMPTS), rows)


_ATTEMPTS = table_of(ProviderAttempt)


def note_error(session: Session, org_id: int, message: str, at: datetime) -> None:
    """Record an error for staff, folding repeats of an unacknowledged one."""
    open_error = session.scalar(
        select(ConnectorError).where(
            ConnectorError.organization_id == org_id,
            ConnectorError.acknowledged_at.is_(None),
            ConnectorError.message == message,
        )
    )
    if open_error is None:
        session.add(
            ConnectorError(
                organization_id=org_id, message=message, first_at=at, last_at=at, occurrences=1
            )
        )
    else:
        open_error.last_at = at
        open_error.occurrences += 1


def view(session: Session, org_id: int, now: datetime) -> ConnectorView:
    """Up, degraded or down, from the organization's latest provider attempts."""
    rows = session.execute(_RECENT, {"org_id": org_id}).all()
    return derive([Attempt(at, outcome != "unreachable") for at, outcome in rows], now)


# Built once: every answer to a text just queued diagnoses it against this view, and
# building the statement cost more than running it. Of the table's columns, not the
# model's: plain rows skip the ORM's execution path.
_RECENT = (
    select(_ATTEMPTS.c.at, _ATTEMPTS.c.outcome)
    .where(_ATTEMPTS.c.organization_id == bindparam("org_id"))
    .order_by(_ATTEMPTS.c.id.desc())
    .limit(RECENT_ATTEMPTS)
)


def status(session: Session, org_id: int, now: datetime) -> ConnectorStatus:
    pending = session.scalar(
        select(func.count())
        .select_from(Message)
        .where(
            Message.organization_id == org_id,
            Message.direction == "outbound",
            Message.status.in_([s.value for s in PENDING]),
        )
    )
    errors = list(
        session.scalars(
            select(ConnectorError)
            .where(ConnectorError.organization_id == org_id)
            .order_by(ConnectorError.id.desc())
            .limit(50)
        )
    )
    return ConnectorStatus(view(session, org_id, now), int(pending or 0), errors)


def acknowledge(session: Session, org_id: int, actor: str, now: datetime) -> int:
    result = session.execute(
        update(ConnectorError)
        .where(ConnectorError.organization_id == org_id, ConnectorError.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by=actor)
        .execution_options(synchronize_session=False)
    )
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        audit.record(
            session,
            org_id,
            actor,
            "connector.acknowledged",
            "connector",
            None,
            {"errors": count},
            at=now,
        )
    return count


def redrive(session: Session, org_id: int, actor: str, now: datetime) -> int:
    """Make every pending text of the organization due now; how many will go out now.

    Texts waiting to retry after a failure are sent at once, and texts already due are
    counted with them (both go out as soon as the provider answers: "re-sent 12 texts").
    Texts held for the send window or a send time stay held.
    """
    queued = (
        Message.organization_id == org_id,
        Message.direction == "outbound",
        Message.status == Status.QUEUED.value,
    )
    already_due = int(
        session.scalar(
            select(func.count()).select_from(Message).where(*queued, Message.due_at <= now)
        )
        or 0
    )
    retrying = session.execute(
        update(Message)
        .where(*queued, Message.due_at > now)
        .values(due_at=now)
        .execution_options(synchronize_session=False)
    )
    count = already_due + int(retrying.rowcount or 0)  # type: ignore[attr-defined]
    audit.record(
        session,
        org_id,
        actor,
        "connector.refreshed",
        "connector",
        None,
        {"redriven": count},
        at=now,
    )
    return count


def awaiting_delivery(
    session: Session, org_id: int, before: datetime, limit: int, *, after_id: int = 0
) -> list[Message]:
    """Sent texts with no final status since ``before``, by id after ``after_id``."""
    return list(
        session.scalars(
            select(Message)
            .where(
                Message.organization_id == org_id,
                Message.status == Status.SENT.value,
                Message.provider_id.is_not(None),
                Message.updated_at <= before,
                Message.id > after_id,
            )
            .order_by(Message.id)
            .limit(limit)
        )
    )


def log_probe(session: Session, log: CallLog | None, problem: str | None, now: datetime) -> None:
    """A dispatcher's health probe, recorded for every organization with texts waiting.

    While the provider is down no text is attempted, so the probes are what keep each
    waiting organization's connector state (and its texts' diagnosis) current.
    """
    waiting = session.scalars(
        select(Message.organization_id)
        .where(
            Message.direction == "outbound",
            Message.status.in_([Status.QUEUED.value, Status.SENDING.value]),
        )
        .distinct()
    )
    for org_id in list(waiting):
        if log is not None:
            log_attempt(session, org_id, None, log, "unreachable" if problem else "ok", now)
        if problem:
            note_error(session, org_id, problem, now)
