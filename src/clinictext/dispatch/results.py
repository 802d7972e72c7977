"""Recording what the provider answered for a batch of claimed texts, in one transaction.

Most answers only record the provider's id and move the text to ``sent``. Those are
applied to the texts' rows as plain values: one read of the batch's rows, one UPDATE
statement (an executemany) and their history rows together. Loading each text as an
object and flushing it was most of the time a batch held SQLite's one write lock, which
the status callbacks of ``serve`` wait for. ``domain.reports.decide`` still judges every
answer; only one it calls plain (``is_plain``) takes this path. The rest (a refusal, a
retry, an answer not handed over, a text named twice) go through ``status_updates``, as
every other report does.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Table, bindparam, select, update
from sqlalchemy.orm import Session

from clinictext.domain.carrier_errors import lookup
from clinictext.domain.reports import Recorded, Report, Verb, decide, decide_refusal, is_plain
from clinictext.domain.retry import RetryPolicy
from clinictext.domain.statuses import Status
from clinictext.providers.base import SendOutcome
from clinictext.services import connector, message_events
from clinictext.services.status_updates import (
    apply,
    apply_report,
    given_up,
    match_parked,
    preload_for_callbacks,
    requeue,
    retry_or_expire,
)
from clinictext.store.db import LockingSelect
from clinictext.store.models import Message

_MESSAGES: Table = Message.__table__  # type: ignore[assignment]
# Built once: a worker records a batch many times a second.
_STATES = LockingSelect(
    select(_MESSAGES.c.id, _MESSAGES.c.organization_id, _MESSAGES.c.status, _MESSAGES.c.provider_id)
    .where(_MESSAGES.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_MESSAGES.c.id)
)
_MOVED = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        provider_id=bindparam("b_provider_id"),
        updated_at=bindparam("b_at"),
        claimed_by=None,
        lease_until=None,
    )
)
_NAMED = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("b_id"))
    .values(provider_id=bindparam("b_provider_id"))
)


@dataclass(frozen=True)
class Result:
    message_id: int
    outcome: SendOutcome | None  # None: not attempted (the provider went away mid-batch)


def record(
    session: Session,
    results: list[Result],
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
    worker: str | None = None,
) -> None:
    """Apply every result; accepted texts become ``sent`` unless a callback got there first.

    The texts' history rows are written together at the end (``message_events``)."""
    with message_events.buffered(session):
        _record(session, results, now, policy, rng, worker)
        message_events.write(session)


def _record(
    session: Session,
    results: list[Result],
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
    worker: str | None,
) -> None:
    attempts: list[dict[str, Any]] = []  # the provider calls, written together at the end
    rest = _record_plain(session, results, now, attempts)
    _record_each(session, rest, now, policy, rng, worker, attempts)
    connector.log_attempts(session, attempts)
    session.flush()
    accepted = [r.outcome.provider_id for r in results if r.outcome and r.outcome.provider_id]
    match_parked(session, accepted, now, policy, rng)


def _record_plain(
    session: Session, results: list[Result], now: datetime, attempts: list[dict[str, Any]]
) -> list[Result]:
    """Apply the answers ``is_plain`` to the texts' rows; the results left for
    ``_record_each``. The rows are read (locked, on PostgreSQL, in id order) for the whole
    batch, so the objects ``_record_each`` loads afterwards are already ours."""
    states: dict[int, Row[Any]] = {
        row.id: row
        for row in session.execute(
            _STATES.on(session), {"ids": sorted({r.message_id for r in results})}
        )
    }
    superseded = given_up(
        session, [r.outcome.provider_id for r in results if r.outcome and r.outcome.provider_id]
    )
    named = Counter(r.message_id for r in results)
    moved: list[dict[str, Any]] = []
    ids_only: list[dict[str, Any]] = []
    rest: list[Result] = []
    for result in results:
        state = states.get(result.message_id)
        outcome = result.outcome
        if state is None:
            continue  # deleted with its patient meanwhile
        if (
            not outcome
            or not outcome.provider_id
            or outcome.error_code
            or named[result.message_id] > 1
        ):
            rest.append(result)
            continue
        pid = outcome.provider_id
        report = Report(pid, outcome.status or Status.SENT)
        current = Status(state.status)
        action = decide(Recorded(current, state.provider_id, pid in superseded), report)
        if not is_plain(action, report):
            rest.append(result)
            continue
        if outcome.log is not None:
            attempts.append(
                connector.attempt_row(state.organization_id, state.id, outcome.log, "ok", now)
            )
        new = action.status
        if action.verb is Verb.IGNORE or new is None:
            continue
        if new is not current:
            moved.append(
                {
                    "b_id": state.id,
                    "b_status": new.value,
                    "b_provider_id": pid,
                    "b_at": now,
                }
            )
            message_events.record_row(session, state.organization_id, state.id, new.value, now)
        elif state.provider_id is None:
            ids_only.append({"b_id": state.id, "b_provider_id": pid})
    connection = session.connection()
    for statement, rows in ((_MOVED, moved), (_NAMED, ids_only)):
        if rows:
            connection.execute(statement, rows)
    return rest


def _record_each(
    session: Session,
    results: list[Result],
    now: datetime,
    policy: RetryPolicy,
    rng: random.Random,
    worker: str | None,
    attempts: list[dict[str, Any]],
) -> None:
    """The answers that are not plain, one by one through ``status_updates``."""
    if not results:
        return
    # The texts, whether each accepted attempt was given up meanwhile, and which text a
    # parked callback names, read for the whole batch in two queries instead of per text.
    by_id = preload_for_callbacks(
        session,
        [
            (r.outcome.provider_id, r.message_id)
            for r in results
            if r.outcome and r.outcome.provider_id
        ],
        more=[r.message_id for r in results],
    )
    # Held until the end: a batch's rows go out in a few statements at commit instead of
    # one flush per text. A refusal may record consent or a patient's phone status,
    # which a later text of the batch must see: the pending changes go out before it.
    with session.no_autoflush:
        for result in results:
            message = by_id.get(result.message_id)
            if message is None:
                continue
            outcome = result.outcome
            if outcome is None or not outcome.provider_id or outcome.error_code:
                session.flush()
            if outcome is None:
                # Not handed over: still ours and waiting, it goes back to the queue untouched.
                if (
                    message.status == Status.SENDING.value
                    and message.handed_at is None
                    and (worker is None or message.claimed_by == worker)
                ):
                    message.attempts -= 1
                    requeue(
                        session,
                        message,
                        now,
                        now,
                        "not handed over: the provider is unreachable or the worker is stopping",
                    )
                continue
            if outcome.log is not None:
                kind = (
                    "ok"
                    if outcome.provider_id
                    else ("refused" if outcome.reachable else "unreachable")
                )
                attempts.append(
                    connector.attempt_row(
                        message.organization_id, message.id, outcome.log, kind, now
                    )
                )
            if outcome.provider_id:
                report = Report(outcome.provider_id, outcome.status or Status.SENT)
                apply_report(session, message, report, now, policy, rng)
            elif message.status != Status.SENDING.value:
                continue  # a callback or a reconciliation settled it meanwhile
            elif (
                action := decide_refusal(outcome.reachable, outcome.error_code)
            ).verb is Verb.RETRY:
                entry = lookup(outcome.error_code)
                why = outcome.error_message or action.why
                if outcome.reachable and entry is not None:
                    why = entry.meaning
                if not outcome.reachable:
                    connector.note_error(session, message.organization_id, why, now)
                retry_or_expire(session, message, why, outcome.error_code, now, policy, rng)
            else:
                apply(
                    session,
                    message,
                    Status.FAILED,
                    now,
                    error_code=outcome.error_code,
                    error_message=outcome.error_message,
                )
