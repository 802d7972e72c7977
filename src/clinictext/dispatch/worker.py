"""The dispatch loop, run by ``clinictext worker`` and inside ``clinictext serve``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.config import Settings
from clinictext.dispatch.claims import Claim, claim_due
from clinictext.dispatch.handoff import hand_off
from clinictext.dispatch.reconcile import ask_provider, settle, take_stale
from clinictext.dispatch.results import Result, record
from clinictext.domain.retry import RetryPolicy
from clinictext.providers.base import OutboundText, Provider, ProviderUnavailable, SendOutcome
from clinictext.services import connector
from clinictext.services.automation_round import RoundReport, run_round
from clinictext.services.clock import utcnow
from clinictext.services.lead_inactivity import close_inactive
from clinictext.services.status_updates import match_parked
from clinictext.services.verification import check_verifications
from clinictext.store.db import transaction
from clinictext.store.models import ParkedCallback

log = logging.getLogger("clinictext.dispatch")


@dataclass
class DispatchConfig:
    public_url: str
    batch_size: int = 500
    lease: timedelta = timedelta(seconds=60)
    horizon: timedelta = timedelta(seconds=2)
    idle_sleep: float = 0.2
    probe_every: float = 2.0
    verification_every: timedelta = timedelta(seconds=60)
    automation_every: timedelta = timedelta(seconds=2)
    automation_batch: int = 100
    lead_check_every: timedelta = timedelta(hours=1)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    seed: int | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> DispatchConfig:
        return cls(
            public_url=settings.public_url,
            batch_size=settings.dispatch_batch_size,
            lease=timedelta(seconds=settings.dispatch_lease_seconds),
            automation_every=timedelta(seconds=settings.automation_interval_seconds),
            automation_batch=settings.automation_batch_size,
            retry=RetryPolicy(validity=timedelta(hours=settings.retry_validity_hours)),
        )

    def status_callback(self, message_id: int) -> str:
        return f"{self.public_url.rstrip('/')}/webhooks/twilio/status?mid={message_id}"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Dispatcher:
    """Claims due texts, sends them at each sender's pace, records, reconciles."""

    def __init__(
        self, factory: sessionmaker[Session], provider: Provider, config: DispatchConfig
    ) -> None:
        self.factory = factory
        self.provider = provider
        self.config = config
        self.name = worker_name()
        self.rng = random.Random(config.seed)
        self.provider_down_since: datetime | None = None
        self._next_probe = 0.0
        self._next_verification_check: datetime | None = None
        self._next_automation: datetime | None = None
        self._next_lead_check: datetime | None = None
        self.sent = 0
        self._stop = asyncio.Event()  # set on SIGTERM: claimed texts not handed over go back

    async def _db(self, fn: Any, *args: Any) -> Any:
        def run() -> Any:
            with transaction(self.factory) as session:
                return fn(session, *args)

        return await asyncio.to_thread(run)

    async def run(self, stop: asyncio.Event) -> None:
        log.info("dispatcher %s started", self.name)
        self._stop = stop
        while not stop.is_set():
            try:
                busy = await self.step()
            except Exception:  # keep dispatching through a bad round; it is logged
                log.exception("dispatch round failed")
                busy = False
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.config.idle_sleep)
        log.info("dispatcher %s stopped", self.name)

    async def step(self) -> bool:
        """One round; True when there was work (so the next round starts at once)."""
        now = utcnow()
        # Before the provider check: texts written while it is down wait in the queue.
        automated = await self._automate(now)
        if self.provider_down_since is not None and not await self._probe():
            return automated
        await self._check_verifications(now)
        reconciled = await self._reconcile(now)
        claims: list[Claim] = await self._db(
            lambda s: claim_due(
                s,
                self.name,
                utcnow(),
                limit=self.config.batch_size,
                lease=self.config.lease,
                horizon=self.config.horizon,
            )
        )
        if not claims:
            await self._db(self._match_parked)
            return reconciled > 0 or automated
        await self._send_all(claims)
        return True

    async def _record(self, results: list[Result]) -> None:
        await self._db(
            lambda s: record(s, results, utcnow(), self.config.retry, self.rng, self.name)
        )
        self.sent += sum(1 for r in results if r.outcome and r.outcome.provider_id)

    async def _send_wave(self, calls: list[Coroutine[Any, Any, Result]]) -> None:
        """Send a wave of handed texts and record their answers as soon as they are in:
        until then a patient's STOP waits for them (``consent.settle_after_opt_out``)."""
        await self._record(list(await asyncio.gather(*calls)))

    async def _send_all(self, claims: list[Claim]) -> None:
        """Hand each text over at its pacing slot, after the last consent check."""
        results: list[Result] = []
        waves: list[asyncio.Task[None]] = []
        waiting = sorted(claims, key=lambda c: (c.slot, c.message_id))
        while waiting:
            delay = (waiting[0].slot - utcnow()).total_seconds()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=delay)
            if self.provider_down_since is not None or self._stop.is_set():
                # Not handed over: back to the queue now, not after the lease runs out.
                results.extend(Result(c.message_id, None) for c in waiting)
                break
            now = utcnow()
            due = [c for c in waiting if c.slot <= now] or waiting[:1]
            waiting = waiting[len(due) :]
            ids = [c.message_id for c in due]
            go: set[int] = await self._db(hand_off, ids, self.name, utcnow())
            calls = [self._call(c) for c in due if c.message_id in go]
            if calls:
                waves.append(asyncio.create_task(self._send_wave(calls)))
            # Canceled by an opt-out, or no longer ours: nothing was sent.
            results.extend(Result(c.message_id, None) for c in due if c.message_id not in go)
        await asyncio.gather(*waves)
        if results:
            await self._record(results)

    async def _call(self, claim: Claim) -> Result:
        outcome: SendOutcome = await self.provider.send(
            OutboundText(
                claim.message_id,
                claim.to,
                claim.from_,
                claim.body,
                self.config.status_callback(claim.message_id),
            )
        )
        if not outcome.reachable and self.provider_down_since is None:
            self.provider_down_since = utcnow()
            self._next_probe = asyncio.get_running_loop().time() + self.config.probe_every
            log.warning("provider unreachable; holding texts until it answers")
        return Result(claim.message_id, outcome)

    async def _probe(self) -> bool:
        loop_time = asyncio.get_running_loop().time()
        if loop_time < self._next_probe:
            return False
        self._next_probe = loop_time + self.config.probe_every
        try:
            call = await self.provider.ping()
        except ProviderUnavailable as err:
            failed = err
            await self._db(lambda s: connector.log_probe(s, failed.log, str(failed), utcnow()))
            return False
        await self._db(lambda s: connector.log_probe(s, call, None, utcnow()))
        log.info("provider reachable again")
        self.provider_down_since = None
        return True

    async def _reconcile(self, now: datetime) -> int:
        stale = await self._db(lambda s: take_stale(s, self.name, now, self.config.lease, 100))
        if not stale:
            return 0
        try:
            answers = await ask_provider(self.provider, stale)
        except ProviderUnavailable:
            return 0  # asked again once the lease we took expires
        adopted, requeued = await self._db(
            lambda s: settle(s, stale, answers, utcnow(), self.config.retry, self.rng)
        )
        log.info(
            "reconciled %d interrupted sends: %d adopted, %d requeued",
            len(stale),
            adopted,
            requeued,
        )
        return len(stale)

    def _match_parked(self, session: Session) -> None:
        ids = list(
            session.scalars(
                select(ParkedCallback.provider_id)
                .where(ParkedCallback.matched_at.is_(None))
                .limit(500)
            )
        )
        match_parked(session, ids, utcnow(), self.config.retry, self.rng)

    async def _automate(self, now: datetime) -> bool:
        """The automation round, every ``automation_every`` (at once again after a full
        batch), in a transaction of its own; True when it wrote texts to send. Silent leads
        are closed at most every ``lead_check_every``. A failure is logged and the
        dispatcher goes on sending."""
        due = self._next_automation
        if due is not None and now < due:
            return False
        batch = self.config.automation_batch
        try:
            report: RoundReport = await self._db(lambda s: run_round(s, utcnow(), limit=batch))
        except Exception:
            log.exception("automation round failed")
            self._next_automation = now + self.config.automation_every
            return False
        full = report.seen >= batch
        self._next_automation = now if full else now + self.config.automation_every
        if report.written:
            log.info(
                "automation: %d texts written, %d skipped, %d canceled",
                report.sent,
                report.skipped,
                report.canceled,
            )
        if self._next_lead_check is None or now >= self._next_lead_check:
            self._next_lead_check = now + self.config.lead_check_every
            try:
                closed = await self._db(lambda s: close_inactive(s, utcnow()))
            except Exception:
                log.exception("closing silent leads failed")
            else:
                if closed:
                    log.info("closed %d silent leads as lost", closed)
        return report.sent > 0 or full

    async def _check_verifications(self, now: datetime) -> None:
        due = self._next_verification_check
        if due is not None and now < due:
            return
        self._next_verification_check = now + self.config.verification_every
        await check_verifications(self.factory, self.provider, now, self.config.verification_every)
