"""One writer per process for provider webhooks: a group commit, answered once durable.

A request verifies and parses its webhook on the event loop (cheap), puts it on this
writer's queue and awaits its outcome. The writer takes everything queued (up to
``max_batch``; when it was idle it first lingers ``linger`` seconds for company), applies
it in one transaction on its own thread (``webhook_batch.apply_batch``), and only after the
commit resolves the requests' futures: a 2xx is never sent for a webhook not yet durable.
While one batch commits, the next gathers, so under load batches grow by themselves and
the cost of a commit is shared.

Why not a thread and a connection per request (as before): each request then held a
pooled connection while it waited for SQLite's one write lock (or a PostgreSQL row lock),
so 50 callbacks in flight exhausted the pool and the server stopped answering. Here the
webhooks take one connection in all, in arrival order, so a patient's texts are applied in
the order they came. The queue is bounded: when it is full a request is refused at once
(503 with Retry-After; providers retry), never left waiting without end.

Hand-written rather than a library: it is a queue, a future per item and one thread, and
its one rule (resolve only after commit) is the point of it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from clinictext.services.webhook_batch import REFUSED, Item, Outcome

log = logging.getLogger("clinictext.webhooks")


class WriterBusy(Exception):
    """The webhook was not taken: the queue is full, the writer is stopping, or its batch
    took longer than a request may wait. Nothing of it is known to be written."""


@dataclass(frozen=True)
class WriterLimits:
    max_batch: int = 200  # items applied in one transaction
    linger: float = 0.002  # seconds an idle writer waits for more before it writes
    max_queue: int = 2000  # items waiting; more are refused at once
    wait: float = 20.0  # seconds a request waits for its batch before it is answered 503


class WebhookWriter:
    """Applies queued webhooks in batches on one thread; see the module docstring."""

    def __init__(
        self, apply: Callable[[Sequence[Item]], list[Outcome]], limits: WriterLimits
    ) -> None:
        self._apply = apply
        self.limits = limits
        self._queue: collections.deque[tuple[Item, asyncio.Future[Outcome]]] = collections.deque()
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-writer")
        self.batches = 0  # counted for tests and benchmarks
        self.applied = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-writer")

    async def stop(self) -> None:
        """Take no more; write what is queued; then end."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        self._executor.shutdown(wait=True)

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def submit(self, item: Item) -> Outcome:
        """``item``'s outcome, once the transaction that applied it has committed."""
        if self._closing:
            raise WriterBusy("The server is stopping.")
        if len(self._queue) >= self.limits.max_queue:
            raise WriterBusy("Too many webhooks are waiting to be recorded.")
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._wake.set()
        try:
            # Shielded: a client that goes away does not take its item out of a batch.
            return await asyncio.wait_for(asyncio.shield(future), self.limits.wait)
        except TimeoutError:
            raise WriterBusy("The database took too long to record the webhook.") from None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                if self._queue and self.limits.linger > 0 and not self._closing:
                    await asyncio.sleep(self.limits.linger)
                continue
            batch = [
                self._queue.popleft() for _ in range(min(self.limits.max_batch, len(self._queue)))
            ]
            items = [item for item, _ in batch]
            try:
                outcomes = await loop.run_in_executor(self._executor, self._apply, items)
            except Exception:
                log.exception("a batch of %d webhooks was not recorded", len(items))
                outcomes = [REFUSED] * len(items)
            self.batches += 1
            self.applied += sum(1 for o in outcomes if o.ok)
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if not future.done():
                    future.set_result(outcome)
