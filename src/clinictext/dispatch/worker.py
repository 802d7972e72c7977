"""The dispatch loop, run by ``clinictext worker`` and inside ``clinictext serve``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.config import Settings
from clinictext.dispatch import wake
from clinictext.dispatch.claims import Claim, claim_due
from clinictext.dispatch.handoff import hand_off
from clinictext.dispatch.pacing import Pacer
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
# A slot this close ahead counts as come: the clock's resolution, not worth a sleep.
SLOT_TOLERANCE = 0.001


@dataclass
class DispatchConfig:
    public_url: str
    batch_size: int = 500
    lease: timedelta = timedelta(seconds=60)
    horizon: timedelta = timedelta(seconds=2)
    idle_sleep: float = 0.2
    # While notifications of new work arrive (PostgreSQL), the poll is only the fallback
    # for texts that fall due later.
    listening_poll: float = 1.0
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
        self.pacer = Pacer()
        self._wake = asyncio.Event()  # new work was written: look now, not at the next poll
        self._listening = False

    async def _db(self, fn: Any, *args: Any) -> Any:
        def run() -> Any:
            with transaction(self.factory) as session:
                return fn(session, *args)

        return await asyncio.to_thread(run)

    async def run(self, stop: asyncio.Event) -> None:
        log.info("dispatcher %s started", self.name)
        self._stop = stop
        engine = self.factory.kw["bind"]
        loop = asyncio.get_running_loop()

        def poke() -> None:  # from the thread that committed; never fails that commit
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(self._wake.set)

        unwatch = wake.watch_inserts(engine, poke)
        listener = None
        if engine.dialect.name == "postgresql":
            listener = asyncio.create_task(wake.listen(engine, self._wake.set, self._listen_state))
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    busy = await self.step()
                except Exception:  # keep dispatching through a bad round; it is logged
                    log.exception("dispatch round failed")
                    busy = False
                if not busy:
                    await self._idle()
        finally:
            unwatch()
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
        log.info("dispatcher %s stopped", self.name)

    def _listen_state(self, listening: bool) -> None:
        self._listening = listening

    async def _idle(self) -> None:
        """Until new work is written, the poll interval passes, or the worker stops."""
        timeout = self.config.listening_poll if self._listening else self.config.idle_sleep
        waits = [asyncio.create_task(self._wake.wait()), asyncio.create_task(self._stop.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

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

    async def _recorder(self, answers: asyncio.Queue[Result | None]) -> None:
        """Record the provider's answers as they come in: all those that arrived while the
        previous batch was being written go in one transaction, so the recording keeps up
        however fast the answers come. Until recorded, a patient's STOP waits for them
        (``consent.settle_after_opt_out``), so none waits longer than one transaction."""
        closed = False
        while not closed:
            batch: list[Result] = []
            item = await answers.get()
            while True:
                if item is None:
                    closed = True
                else:
                    batch.append(item)
                if answers.empty():
                    break
                item = answers.get_nowait()
            if not batch:
                continue
            try:
                await self._record(batch)
            except Exception:  # left "sending": reconciliation settles them after the lease
                log.exception("recording %d provider answers failed", len(batch))

    async def _send_all(self, claims: list[Claim]) -> None:
        """Hand each text over at its pacing slot, after the last consent check.

        A text goes once its slot has come and its sender's sliding window has room
        (``dispatch.pacing``); only as many as may go now are handed off at a time.
        """
        answers: asyncio.Queue[Result | None] = asyncio.Queue()
        recorder = asyncio.create_task(self._recorder(answers))
        calls: list[asyncio.Task[None]] = []
        waiting = sorted(claims, key=lambda c: (c.slot, c.message_id))
        try:
            while waiting:
                if self.provider_down_since is not None or self._stop.is_set():
                    # Not handed over: back to the queue now, not after the lease runs out.
                    for c in waiting:
                        answers.put_nowait(Result(c.message_id, None))
                    break
                admitted, wake_at = self._admit(waiting)
                if not admitted:
                    with contextlib.suppress(TimeoutError):
                        delay = max(wake_at - self.pacer.clock(), 0.0)
                        await asyncio.wait_for(self._stop.wait(), timeout=delay)
                    continue
                chosen = {c.message_id for c in admitted}
                waiting = [c for c in waiting if c.message_id not in chosen]
                go: set[int] = set()
                try:
                    go = await self._db(hand_off, sorted(chosen), self.name, utcnow())
                finally:
                    if not go:  # failed: nothing handed, the room they held is free again
                        for c in admitted:
                            self.pacer.window(c.sender_id, c.mps).release(c.segments)
                for c in admitted:
                    if c.message_id in go:
                        calls.append(asyncio.create_task(self._call(c, answers)))
                    else:  # canceled by an opt-out, or no longer ours: nothing was sent
                        if go:
                            self.pacer.window(c.sender_id, c.mps).release(c.segments)
                        answers.put_nowait(Result(c.message_id, None))
        finally:
            # Every text handed over has its answer recorded, even if this round failed.
            await asyncio.gather(*calls, return_exceptions=True)
            answers.put_nowait(None)
            await recorder

    def _admit(self, waiting: list[Claim]) -> tuple[list[Claim], float]:
        """The texts (sorted by slot) that may be handed off now, and if none, when to
        look again: the next slot, or the moment a full window has room."""
        now = utcnow()
        clock = self.pacer.clock()
        wake_at = clock + self.config.idle_sleep
        admitted: list[Claim] = []
        full: set[int] = set()
        for c in waiting:
            early = (c.slot - now).total_seconds()
            if early > SLOT_TOLERANCE:
                wake_at = min(wake_at, clock + early)
                break
            if c.sender_id in full:
                continue  # in order: no later text of a number overtakes one held back
            window = self.pacer.window(c.sender_id, c.mps)
            if window.admit(c.segments):
                admitted.append(c)
            else:
                full.add(c.sender_id)
                wake_at = min(wake_at, window.free_at(c.segments))
        return admitted, wake_at

    async def _call(self, claim: Claim, answers: asyncio.Queue[Result | None]) -> None:
        try:
            result = await self._send(claim)
        except Exception:  # left "sending": reconciliation asks the provider after the lease
            log.exception("sending message %d failed", claim.message_id)
            return
        answers.put_nowait(result)

    async def _send(self, claim: Claim) -> Result:
        await self.pacer.window(claim.sender_id, claim.mps).start(claim.segments)
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
