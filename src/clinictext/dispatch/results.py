"""Recording what the provider answered for a batch of claimed texts, in one transaction.

Most answers only record the provider's id and move the text to ``sent``: those are
applied to the texts' rows together (``services.report_rows``), which keeps the time a
batch holds SQLite's one write lock short. The rest (a refusal, a retry, an answer not
handed over, a text named twice in the batch) go one by one through ``status_updates``,
as every other report does.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from clinictext.domain.carrier_errors import lookup
from clinictext.domain.reports import Report, Verb, decide_refusal
from clinictext.domain.retry import RetryPolicy
from clinictext.domain.statuses import Status
from clinictext.providers.base import SendOutcome
from clinictext.services import connector, message_events
from clinictext.services.report_rows import ReportRows
from clinictext.services.status_updates import (
    apply,
    apply_report,
    given_up,
    match_parked,
    preload_for_callbacks,
    requeue,
    retry_or_expire,
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
    """Apply the plain answers to the texts' rows (``report_rows``); the results left for
    ``_record_each``. The rows are read (locked, on PostgreSQL, in id order) for the whole
    batch, so the objects ``_record_each`` loads afterwards are already ours."""
    rows = ReportRows(session, (r.message_id for r in results))
    superseded = given_up(
        session, [r.outcome.provider_id for r in results if r.outcome and r.outcome.provider_id]
    )
    named = Counter(r.message_id for r in results)
    rest: list[Result] = []
    for result in results:
        row = rows.rows.get(result.message_id)
        outcome = result.outcome
        if row is None:
            continue  # deleted with its patient meanwhile
        if (
            outcome is None
            or not outcome.provider_id
            or outcome.error_code
            or named[result.message_id] > 1
            or not rows.apply_all(
                row.id,
                [Report(outcome.provider_id, outcome.status or Status.SENT)],
                superseded,
                now,
            )
        ):
            rest.append(result)
            continue
        if outcome.log is not None:
            attempts.append(
                connector.attempt_row(row.organization_id, row.id, outcome.log, "ok", now)
            )
    rows.write(session)
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
