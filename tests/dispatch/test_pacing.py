"""Pacing where the send happens: no sliding second carries more segments than the mps.

The real dispatcher runs against a provider that only records when each text reached it;
the windows are counted over those times (no duration is asserted). A stalled worker,
reaching its slots late, must not send the texts it fell behind on all at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.dispatch.claims import Claim
from clinictext.dispatch.pacing import SenderWindow
from clinictext.dispatch.worker import DispatchConfig, Dispatcher
from clinictext.domain.checklist import Channel, Verification
from clinictext.providers.base import (
    CallLog,
    InboundText,
    OutboundText,
    ProviderMessage,
    SendOutcome,
    StatusReport,
)
from clinictext.services import sending
from clinictext.services.clock import utcnow
from clinictext.store.db import transaction
from clinictext.store.models import Message
from tests.support import seed_clinic

MPS = 4
LOG = CallLog("send", {}, {}, 201, 1.0)


class RecordingProvider:
    """Accepts every text at once and notes when (monotonic clock) and how long it was."""

    def __init__(self, segments: dict[int, int]) -> None:
        self.segments = segments
        self.sent: list[tuple[float, int]] = []

    async def send(self, text: OutboundText) -> SendOutcome:
        self.sent.append((time.monotonic(), self.segments[text.message_id]))
        return SendOutcome(True, f"SM{text.message_id:030d}", None, None, None, LOG)

    async def fetch(self, provider_id: str) -> ProviderMessage | None:
        return None

    async def find(self, to: str, from_: str, since: datetime) -> list[ProviderMessage]:
        return []

    async def sender_verification(self, number: str, kind: str) -> Verification:
        return Verification.VERIFIED

    async def ping(self) -> CallLog:
        return LOG

    async def close(self) -> None:
        return None

    def verify_signature(self, url: str, params: Mapping[str, str], signature: str) -> bool:
        return True

    def parse_status(self, params: Mapping[str, str]) -> StatusReport:
        raise NotImplementedError

    def parse_inbound(self, params: Mapping[str, str]) -> InboundText:
        raise NotImplementedError


class StallingDispatcher(Dispatcher):
    """Falls behind once: its first batch reaches the provider only after every slot of
    that batch has passed, as after a long transaction or a busy event loop."""

    first_batch: list[Claim] | None = None

    async def _send_all(self, claims: list[Claim]) -> None:
        if self.first_batch is None:
            self.first_batch = claims
            last_slot = max(c.slot for c in claims)
            while utcnow() <= last_slot:
                await asyncio.sleep(0.05)
        await super()._send_all(claims)


def busiest_window(sent: list[tuple[float, int]]) -> int:
    """The most segments that started within any one second, [t, t + 1)."""
    times = sorted(sent)
    return max(sum(s for u, s in times if t <= u < t + 1.0) for t, _ in times)


def queue_texts(factory: sessionmaker[Session]) -> dict[int, int]:
    seeded = seed_clinic(factory, senders=("+14155550100",), mps=MPS, patient_count=6)
    segments = {}
    with transaction(factory) as s:
        for i in range(18):
            body = f"Reminder {i}: " + ("see you at the clinic tomorrow " * 6 if i % 4 == 0 else "")
            pid = seeded.patient_ids[i % len(seeded.patient_ids)]
            m = sending.send(s, seeded.org_id, pid, Channel.CLINIC, body, actor="t")
            segments[m.id] = m.segments
    assert 2 in segments.values()  # some texts are two segments long
    return segments


async def run_until_sent(dispatcher: Dispatcher, provider: RecordingProvider, n: int) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        async with asyncio.timeout(90):
            while len(provider.sent) < n:
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await task


@pytest.mark.timeout(180)
def test_a_stalled_worker_never_puts_more_than_mps_segments_in_one_second(factory: Any) -> None:
    segments = queue_texts(factory)
    provider = RecordingProvider(segments)
    config = DispatchConfig(public_url="http://127.0.0.1:9", automation_every=timedelta(hours=1))
    dispatcher = StallingDispatcher(factory, provider, config)
    asyncio.run(run_until_sent(dispatcher, provider, len(segments)))

    assert dispatcher.first_batch is not None
    # The stall left more segments overdue than one second may carry: sent at their
    # (passed) slots, they would all have gone in the same second.
    assert sum(c.segments for c in dispatcher.first_batch) > MPS
    assert len(provider.sent) == len(segments)
    assert busiest_window(provider.sent) <= MPS
    with transaction(factory) as s:
        sent = s.scalar(select(func.count()).where(Message.status == "sent"))
    assert sent == len(segments)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_window_admits_a_backlog_only_as_fast_as_the_mps() -> None:
    clock = FakeClock()
    window = SenderWindow(3, clock)
    started: list[float] = []
    backlog = [1, 2, 1, 1, 1, 3, 1]
    while backlog:
        if window.admit(backlog[0]):
            segments = backlog.pop(0)
            asyncio.run(window.start(segments))
            started.append(clock.now)
            continue
        clock.now = window.free_at(backlog[0])
    sent = list(zip(started, [1, 2, 1, 1, 1, 3, 1], strict=True))
    assert busiest_window(sent) <= 3


def test_a_text_longer_than_the_mps_goes_alone() -> None:
    clock = FakeClock()
    window = SenderWindow(1, clock)
    assert window.admit(3)
    assert not window.admit(1)
