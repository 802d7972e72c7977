"""A sliding one-second window per sender number, enforced where the send happens.

The database reservation (``dispatch.claims``) spaces each sender's slots by
``segments / mps``, which holds the average rate across workers. But a worker reaches its
slots late by varying amounts (a slow transaction, a busy event loop, a stall), and slots
reached late would then go out together: up to a quarter more segments than ``mps`` in
some second. So the worker keeps, per sender, the start times of its own recent sends,
and starts a send only if the segments started in the last second plus this text's fit
within ``mps``; otherwise it waits until enough of them have left the window.

Two steps, because the consent check at hand-off sits between choosing a text and
calling the provider: ``admit`` reserves room for a text about to be handed off (so a
stalled backlog is handed off only as fast as it may go out, never handed and then held),
and ``start`` logs the send the moment the provider is called, so the window is measured
where the provider sees it. Hand-written: a deque per sender is all it takes.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

# One second, and a millisecond more: two clock readings a few microseconds apart (ours,
# and the provider's when the request arrives) must never put two sends a second apart
# into one window.
WINDOW = 1.001
# A window full of texts reserved but not yet started frees up as soon as they start.
RESERVED_RECHECK = 0.005


class SenderWindow:
    """The sends one worker started from one number within the last second."""

    def __init__(self, mps: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.mps = max(mps, 1)
        self.clock = clock
        self._started: deque[tuple[float, int]] = deque()
        self._in_window = 0  # segments started within the window
        self._reserved = 0  # segments admitted for hand-off, not started yet

    def _expire(self, now: float) -> None:
        while self._started and self._started[0][0] <= now - WINDOW:
            self._in_window -= self._started.popleft()[1]

    def _fits(self, used: int, segments: int) -> bool:
        # A text longer than mps segments can never fit: it goes alone, in an empty window.
        return used + segments <= self.mps or used == 0

    def admit(self, segments: int) -> bool:
        """Reserve room for a text about to be handed off, if the window has it now."""
        self._expire(self.clock())
        if not self._fits(self._in_window + self._reserved, segments):
            return False
        self._reserved += segments
        return True

    def release(self, segments: int) -> None:
        """A reserved text that will not be sent (canceled at hand-off)."""
        self._reserved = max(self._reserved - segments, 0)

    def free_at(self, segments: int) -> float:
        """When (on the clock) the window may next admit ``segments``."""
        now = self.clock()
        self._expire(now)
        used = self._in_window + self._reserved
        return self._room_at(used, segments, now, otherwise=now + RESERVED_RECHECK)

    def _room_at(self, used: int, segments: int, now: float, otherwise: float) -> float:
        """When ``segments`` fit on top of ``used``: ``now``, or the moment enough started
        texts have left the window, or (reserved texts fill it) ``otherwise``."""
        if self._fits(used, segments):
            return now
        excess = used + segments - self.mps
        for at, started in self._started:
            excess -= started
            if excess <= 0:
                return at + WINDOW
        return otherwise

    async def start(self, segments: int) -> None:
        """Wait until a reserved text may start, then log it as started now.

        Returns with no await after the clock is read, so the caller's provider call
        follows at that same moment.
        """
        while True:
            now = self.clock()
            self._expire(now)
            if self._fits(self._in_window, segments):
                self._started.append((now, segments))
                self._in_window += segments
                self._reserved = max(self._reserved - segments, 0)
                return
            wake = self._room_at(self._in_window, segments, now, otherwise=now + WINDOW)
            await asyncio.sleep(max(wake - now, 0.0))


class Pacer:
    """One window per sender number, for the life of a worker."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._windows: dict[int, SenderWindow] = {}

    def window(self, sender_id: int, mps: int) -> SenderWindow:
        window = self._windows.get(sender_id)
        if window is None:
            window = self._windows[sender_id] = SenderWindow(mps, self.clock)
        window.mps = max(mps, 1)  # staff may change a number's rate between claims
        return window
