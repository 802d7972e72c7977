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
from datetime import timedelta
from typing import TypeVar

from sqlalchemy.orm import Session, sessionmaker

from clinictext.domain.retry import RetryPolicy
from clinictext.providers.base import CallLog, Provider, ProviderMessage, ProviderUnavailable
from clinictext.services import connector, status_updates
from clinictext.services.clock import utcnow
from clinictext.services.verification import check_verifications
from clinictext.store.db import transaction
from clinictext.store.models import Message

# Sent texts without a final status this long are worth asking the provider about.
STALE_SENT = timedelta(seconds=60)
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
        def run() -> T:
            with transaction(factory) as session:
                return fn(session)

        return await asyncio.to_thread(run)

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
        pending = await db(
            lambda s: [
                (m.id, m.provider_id or "")
                for m in connector.awaiting_delivery(s, org_id, utcnow() - STALE_SENT, 100)
            ]
        )
        found: list[tuple[int, ProviderMessage]] = []
        for message_id, provider_id in pending:
            try:
                item = await provider.fetch(provider_id)
            except ProviderUnavailable:
                break
            if item is not None:
                found.append((message_id, item))

        def save(session: Session) -> None:
            for message_id, item in found:
                message = session.get(Message, message_id)
                if message is not None:
                    status_updates.apply_report(
                        session,
                        message,
                        item.status,
                        item.error_code,
                        item.provider_id,
                        utcnow(),
                        policy,
                        _rng,
                        error_message=item.error_message,
                    )

        await db(save)
        checked = len(found)

    def finish(session: Session) -> tuple[int, connector.ConnectorStatus]:
        count = connector.redrive(session, org_id, actor, now)
        return count, connector.status(session, org_id, utcnow())

    redriven, state = await db(finish)
    return RefreshResult(state, redriven, checked)
