"""An idle dispatcher wakes when new work is written, not at its next poll.

The dispatchers here poll once every ten minutes, so only a wake-up can make them send
within the test's bound: on PostgreSQL the trigger's notification (the text is written
through another engine, as another process would), on SQLite the engine it shares with
the writer.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from clinictext.dispatch.claims import claim_due
from clinictext.dispatch.wake import CHANNEL
from clinictext.dispatch.worker import DispatchConfig, Dispatcher
from clinictext.domain.checklist import Channel
from clinictext.services import sending
from clinictext.services.clock import utcnow
from clinictext.store.db import make_engine, session_factory, transaction
from tests.dispatch.test_pacing import RecordingProvider
from tests.support import seed_clinic

NEVER = 600.0  # the poll: longer than any test here may take


class IdleWatchingDispatcher(Dispatcher):
    """Says when it has gone idle (and, on PostgreSQL, listens)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.idle = asyncio.Event()

    async def _idle(self) -> None:
        if self._listening or self.factory.kw["bind"].dialect.name != "postgresql":
            self.idle.set()
        await super()._idle()


def write_text(factory: sessionmaker[Session], org_id: int, pid: int, body: str) -> int:
    with transaction(factory) as s:
        return sending.send(s, org_id, pid, Channel.CLINIC, body, actor="t").id


@pytest.mark.timeout(120)
def test_an_idle_dispatcher_sends_a_new_text_at_once(factory: Any, db_url: str) -> None:
    seeded = seed_clinic(factory, senders=("+14155550100",), mps=10)
    engine: Engine = factory.kw["bind"]
    postgres = engine.dialect.name == "postgresql"
    # On PostgreSQL, written as by another process: only the notification can tell.
    writer_engine = make_engine(db_url) if postgres else engine
    writer = session_factory(writer_engine)
    provider = RecordingProvider({})
    config = DispatchConfig(
        public_url="http://127.0.0.1:9",
        idle_sleep=NEVER,
        listening_poll=NEVER,
        automation_every=timedelta(hours=1),
    )
    dispatcher = IdleWatchingDispatcher(factory, provider, config)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(dispatcher.run(stop))
        try:
            async with asyncio.timeout(60):
                await dispatcher.idle.wait()
                mid = await asyncio.to_thread(
                    write_text, writer, seeded.org_id, seeded.patient_ids[0], "hello"
                )
                provider.segments[mid] = 1
                while not provider.sent:
                    await asyncio.sleep(0.02)
        finally:
            stop.set()
            await task

    try:
        asyncio.run(scenario())
    finally:
        if postgres:
            writer_engine.dispose()
    assert len(provider.sent) == 1


def test_postgres_notifies_texts_due_now_and_not_the_workers_own_updates(
    factory: Any, db_url: str
) -> None:
    engine: Engine = factory.kw["bind"]
    if engine.dialect.name != "postgresql":
        return  # SQLite has no NOTIFY: its dispatcher polls (and wakes in-process)
    seeded = seed_clinic(factory, senders=("+14155550100",), mps=10)
    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        write_text(factory, seeded.org_id, seeded.patient_ids[0], "hello")
        heard = list(listener.notifies(timeout=30, stop_after=1))
        assert [n.channel for n in heard] == [CHANNEL]
        with transaction(factory) as s:
            claimed = claim_due(
                s,
                "w1",
                utcnow(),
                limit=10,
                lease=timedelta(seconds=60),
                horizon=timedelta(seconds=2),
            )
        assert len(claimed) == 1
        # A claim leaves nothing due: no notification (a write that does follows it, so
        # the listener is not waiting on a time to pass).
        write_text(factory, seeded.org_id, seeded.patient_ids[0], "again")
        heard = list(listener.notifies(timeout=30, stop_after=1))
        assert len(heard) == 1
        assert list(listener.notifies(timeout=0.0)) == []
