"""Refreshing the connector: re-check the provider, then re-drive every pending text.

This is the help article's "acknowledge errors, refresh the connector", done by one call:
the provider is pinged, pending sender verifications are re-asked, texts still "sent"
after a while get their latest status from the provider (a lost callback), and texts
waiting to retry are made due at once.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.domain.reports import Report
from clinictext.domain.retry import RetryPolicy
from clinictext.providers.base import CallLog, Provider, ProviderMessage, ProviderUnavailable
from clinictext.services import connector, status_updates
from clinictext.services.clock import utcnow
from clinictext.services.verification import check_verifications
from clinictext.store.db import for_update, transaction
from clinictext.store.models import Message

# Texts asked about per round trip to the database; each batch's look-ups run this many
# at a time.
BATCH = 100
CONCURRENT_LOOKUPS = 10
T = TypeVar("T")
_rng = random.Random()


@dataclass(frozen=True)
class RefreshResult:
    status: connector.ConnectorStatus
    redriven: int
    checked: int


async def refresh(
    factory: sessionmaker[Session],
    provider: Provider,
    org_id: int,
    actor: str,
    policy: RetryPolicy,
) -> RefreshResult:
    async def db(fn: Callable[[Session], T]) -> T:
        return await _in_transaction(factory, fn)

    now = utcnow()
    call: CallLog | None
    try:
        call, problem = await provider.ping(), None
    except ProviderUnavailable as err:
        call, problem = err.log, str(err)

    def record_ping(session: Session) -> None:
        if call is not None:
            outcome = "ok" if problem is None else "unreachable"
            connector.log_attempt(session, org_id, None, call, outcome, now)
        if problem is not None:
            connector.note_error(session, org_id, problem, now)

    await db(record_ping)
    checked = 0
    if problem is None:
        await check_verifications(factory, provider, now, timedelta(0), org_id)
        checked = await _ask_about_sent(factory, provider, org_id, now, policy)

    def finish(session: Session) -> tuple[int, connector.ConnectorStatus]:
        count = connector.redrive(session, org_id, actor, now)
        return count, connector.status(session, org_id, utcnow())

    redriven, state = await db(finish)
    return RefreshResult(state, redriven, checked)


async def _in_transaction(factory: sessionmaker[Session], fn: Callable[[Session], T]) -> T:
    def run() -> T:
        with transaction(factory) as session:
            return fn(session)

    return await asyncio.to_thread(run)


async def _ask_about_sent(
    factory: sessionmaker[Session],
    provider: Provider,
    org_id: int,
    started: datetime,
    policy: RetryPolicy,
) -> int:
    """Ask the provider about every text still "sent" when the refresh began, in batches.

    Their callbacks may have been lost (the server was down): nothing waits for them.
    Returns how many texts the provider had an answer for.
    """
    checked, after = 0, 0
    gate = asyncio.Semaphore(CONCURRENT_LOOKUPS)

    async def look_up(provider_id: str) -> ProviderMessage | None:
        async with gate:
            return await provider.fetch(provider_id)

    def sent_after(after: int) -> Callable[[Session], list[tuple[int, str]]]:
        return lambda s: [
            (m.id, m.provider_id or "")
            for m in connector.awaiting_delivery(s, org_id, started, BATCH, after_id=after)
        ]

    def save(found: list[tuple[int, ProviderMessage]]) -> Callable[[Session], None]:
        def run(session: Session) -> None:
            for message_id, item in found:
                query = select(Message).where(Message.id == message_id)
                message = session.scalar(for_update(session, query))
                if message is not None:
                    status_updates.apply_report(
                        session,
                        message,
                        Report(item.provider_id, item.status, item.error_code),
                        utcnow(),
                        policy,
                        _rng,
                        error_message=item.error_message,
                    )

        return run

    while True:
        batch = await _in_transaction(factory, sent_after(after))
        if not batch:
            return checked
        after = batch[-1][0]
        try:
            items = await asyncio.gather(*(look_up(pid) for _, pid in batch))
        except ProviderUnavailable:
            return checked
        found = [
            (mid, item) for (mid, _), item in zip(batch, items, strict=True) if item is not None
        ]
        await _in_transaction(factory, save(found))
        checked += len(found)
