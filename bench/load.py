"""An async HTTP load generator shared by the scale measures, and the process probes they use.

``run_load`` keeps ``concurrency`` requests in flight (one aiohttp session, a keep-alive pool
of that size) until ``total`` requests have been answered, and records each one's latency and
outcome: a status code, a connection error, or ``hung`` (no answer within ``timeout``: a
server that has wedged shows up here rather than as a slow run). ``deadline`` bounds the
whole phase, so a wedged server costs a bounded time; requests never started are counted as
``not_sent``. aiohttp because the dispatcher already uses it and ``bench/http_clients.py``
measured it the faster client for many small requests; the requests themselves are built by
the caller (``RequestSpec``), so one loop serves plain GETs, JSON POSTs and signed webhooks.

The probes read ``/proc``: a process's CPU seconds (``utime + stime``) and its resident set.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class RequestSpec:
    method: str
    url: str
    headers: dict[str, str] | None = None
    json: Any = None
    data: Any = None


@dataclass
class LoadResult:
    total: int
    concurrency: int
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    hung: int = 0
    not_sent: int = 0

    def merge(self, other: LoadResult) -> None:
        """Add another run of the same requests (the blocks of an interleaved measure)."""
        self.total += other.total
        self.seconds += other.seconds
        self.latencies_ms += other.latencies_ms
        self.statuses.update(other.statuses)
        self.errors += other.errors
        self.hung += other.hung
        self.not_sent += other.not_sent

    def ok(self, codes: tuple[int, ...]) -> int:
        return sum(n for code, n in self.statuses.items() if code in codes)

    def percentile(self, p: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))
        return ordered[index]

    @property
    def rate(self) -> float:
        answered = sum(self.statuses.values())
        return answered / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.total,
            "concurrency": self.concurrency,
            "seconds": round(self.seconds, 3),
            "req_per_s": round(self.rate, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p95_ms": round(self.percentile(95), 2),
            "p99_ms": round(self.percentile(99), 2),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": self.errors,
            "hung": self.hung,
            "not_sent": self.not_sent,
        }


async def _run(
    make: Callable[[int], RequestSpec],
    total: int,
    concurrency: int,
    timeout: float,
    deadline: float | None,
    warmup: int,
) -> LoadResult:
    result = LoadResult(total, concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:

        async def one(spec: RequestSpec, record: bool) -> None:
            started = time.perf_counter()
            try:
                async with session.request(
                    spec.method, spec.url, headers=spec.headers, json=spec.json, data=spec.data
                ) as response:
                    await response.read()
                    status = response.status
            except TimeoutError:
                if record:
                    result.hung += 1
                return
            except aiohttp.ClientError:
                if record:
                    result.errors += 1
                return
            if record:
                result.latencies_ms.append((time.perf_counter() - started) * 1000)
                result.statuses[status] += 1

        counter = iter(range(warmup + total))
        stop_at = None if deadline is None else time.monotonic() + deadline

        async def worker() -> None:
            for n in counter:
                if stop_at is not None and time.monotonic() > stop_at:
                    result.not_sent += 1
                    continue
                await one(make(n), n >= warmup)

        if warmup:
            warm = iter(range(warmup))
            await asyncio.gather(*(_drain(warm, make, one) for _ in range(concurrency)))
            counter = iter(range(warmup, warmup + total))
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.seconds = time.perf_counter() - started
    return result


async def _drain(
    numbers: Any, make: Callable[[int], RequestSpec], one: Callable[[RequestSpec, bool], Any]
) -> None:
    for n in numbers:
        await one(make(n), False)


def run_load(
    make: Callable[[int], RequestSpec],
    total: int,
    concurrency: int,
    *,
    timeout: float = 10.0,
    deadline: float | None = None,
    warmup: int = 0,
) -> LoadResult:
    """Send ``total`` requests (``make(n)`` builds the n-th), ``concurrency`` at a time."""
    return asyncio.run(_run(make, total, concurrency, timeout, deadline, warmup))


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    """The process's resident set, in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0
