"""Applying provider webhooks in batches: many callbacks and texts, one transaction.

A status callback on its own costs a transaction (BEGIN, two lookups, a flush, a
commit); at a carrier's burst rate the commits, and on SQLite the one write lock, are the
whole cost. ``apply_batch`` applies everything that arrived together in ONE transaction:
what the batch will look up is read first in a few queries (the messages and superseded
attempts its status callbacks name, which of its texts are stored already, the numbers
texted), its received texts are stored in one statement (``inbound.store_all``), each
callback and text is then applied in arrival order as it would be alone
(``status_updates.receive_callback``, ``inbound.react``), and the batch commits once.
Callbacks that only move their text forward are applied to the texts' rows together
first (``report_rows``, ``_apply_plain``): a text's callbacks never go both ways.
The caller answers each webhook only after that commit (``webhook_batch_writer``).

One bad callback must not cost the others: the batch is first tried straight through (no
savepoints: the flush then writes the batch's updates and inserts together, and the texts'
history rows go in one statement, ``message_events``); if anything
in it fails, the transaction is rolled back and the batch applied again with each item in
its own SAVEPOINT, so only the items that fail again are refused (and retried by the
provider, since they are answered 503).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from clinictext.domain.retry import RetryPolicy
from clinictext.providers.base import InboundText, StatusReport
from clinictext.services import inbound, message_events, report_rows, status_updates
from clinictext.services.clock import utcnow
from clinictext.store.db import transaction

log = logging.getLogger("clinictext.webhooks")


@dataclass(frozen=True)
class StatusItem:
    """A verified status callback; ``message_id`` is the id its URL carried, if any."""

    report: StatusReport
    message_id: int | None


@dataclass(frozen=True)
class InboundItem:
    """A verified inbound text."""

    text: InboundText


Item = StatusItem | InboundItem


@dataclass(frozen=True)
class Outcome:
    """What became of one item once its batch committed.

    ``ok`` False: nothing of it was written (answer 503, the provider retries).
    ``settle``: the organization and phone of a newly received opt-out keyword, whose
    answer waits for the texts handed over before it (``consent.settle_after_opt_out``).
    ``unknown_number``: an inbound text to a number no organization owns (not stored).
    """

    ok: bool
    settle: tuple[int, str] | None = None
    unknown_number: bool = False


REFUSED = Outcome(ok=False)
DONE = Outcome(ok=True)


def apply_batch(
    factory: sessionmaker[Session],
    items: Sequence[Item],
    policy: RetryPolicy,
    rng: random.Random,
) -> list[Outcome]:
    """Apply ``items`` in order and commit; one outcome per item, in the same order.

    Raises only when the database refuses the whole transaction (unreachable, locked
    past its timeout, the commit fails): then nothing is written and every item is refused.
    """
    if not items:
        return []
    try:
        with transaction(factory) as session, message_events.buffered(session):
            plain = _apply_plain(session, items)
            _preload(session, [item for n, item in enumerate(items) if n not in plain])
            stored = _store_inbound(session, items)
            outcomes = [
                DONE if n in plain else _apply(session, item, policy, rng, stored.get(n))
                for n, item in enumerate(items)
            ]
            message_events.write(session)
            session.flush()
        return outcomes
    except Exception:
        if len(items) == 1:
            raise
        log.info("a batch of %d webhooks failed as a whole; applying each on its own", len(items))
    return _apply_each(factory, items, policy, rng)


def _apply_each(
    factory: sessionmaker[Session],
    items: Sequence[Item],
    policy: RetryPolicy,
    rng: random.Random,
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    with transaction(factory) as session:
        _preload(session, items)
        for item in items:
            try:
                with session.begin_nested():
                    outcome = _apply(session, item, policy, rng)
            except IntegrityError:
                # The same text stored at once by another process: it is durable there.
                _forget(session)
                outcome = DONE if isinstance(item, InboundItem) else REFUSED
            except Exception:
                log.exception("a webhook could not be applied; the provider will retry it")
                _forget(session)
                outcome = REFUSED
            outcomes.append(outcome)
    return outcomes


def _apply_plain(session: Session, items: Sequence[Item]) -> set[int]:
    """Apply the status callbacks that are plain reports to their texts' rows
    (``report_rows``); their positions in the batch.

    A text's callbacks are applied together, in order, or all left for ``_apply``. Left
    too: a callback without the text's id in its URL, and every text whose callbacks name
    a provider id another callback of the batch names, since ``_apply`` may then look for
    a text by that id and must find it as the batch's order leaves it.
    """
    texts: dict[int, list[int]] = {}
    named: dict[str, int] = {}
    for n, item in enumerate(items):
        if isinstance(item, StatusItem):
            named[item.report.provider_id] = named.get(item.report.provider_id, 0) + 1
            if item.message_id is not None:
                texts.setdefault(item.message_id, []).append(n)
    if not texts:
        return set()
    rows = report_rows.ReportRows(session, texts)
    superseded = status_updates.given_up(session, named)
    now = utcnow()
    applied: set[int] = set()
    for message_id, positions in texts.items():
        reports = [status_updates.report_of(_callback(items[n])) for n in positions]
        pids = {r.provider_id for r in reports}
        if sum(named[pid] for pid in pids) != len(positions):
            continue  # a provider id another text's callback names too
        if rows.apply_all(message_id, reports, superseded, now, must_name_it=True):
            applied.update(positions)
    rows.write(session)
    return applied


def _callback(item: Item) -> StatusReport:
    assert isinstance(item, StatusItem)
    return item.report


def _preload(session: Session, items: Sequence[Item]) -> None:
    status_updates.preload_for_callbacks(
        session, [(i.report.provider_id, i.message_id) for i in items if isinstance(i, StatusItem)]
    )
    inbound.preload(session, [i.text for i in items if isinstance(i, InboundItem)])


def _forget(session: Session) -> None:
    status_updates.forget_preloaded(session)
    inbound.forget_preloaded(session)


def _store_inbound(
    session: Session, items: Sequence[Item]
) -> dict[int, tuple[inbound.Received, datetime]]:
    """The batch's received texts, stored in one statement before any is reacted to: by
    position in the batch, what became of each and when it was received."""
    texts = [(n, item.text) for n, item in enumerate(items) if isinstance(item, InboundItem)]
    received_at = [(text, utcnow()) for _, text in texts]
    answers = inbound.store_all(session, received_at)
    return {
        n: (answer, at) for (n, _), answer, (_, at) in zip(texts, answers, received_at, strict=True)
    }


def _apply(
    session: Session,
    item: Item,
    policy: RetryPolicy,
    rng: random.Random,
    stored: tuple[inbound.Received, datetime] | None = None,
) -> Outcome:
    """Apply one item; a received text already stored (``stored``) is reacted to."""
    now = utcnow()
    if isinstance(item, StatusItem):
        status_updates.receive_callback(session, item.report, item.message_id, now, policy, rng)
        return DONE
    if stored is None:
        received = inbound.receive(session, item.text, now)
    else:
        received = inbound.react(session, *stored)
    message = received.message
    if message is None:
        return Outcome(ok=True, unknown_number=True)
    if received.opts_out and message.from_phone is not None:
        return Outcome(ok=True, settle=(message.organization_id, message.from_phone))
    return DONE
