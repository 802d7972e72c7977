"""Where a measure's server time goes: py-spy attached to the server while the load runs.

``profiled(pid, path)`` records the process's stacks (py-spy's collapsed ``raw`` format, one
line per distinct stack with its sample count) for the length of the block; ``top`` sums
them by the innermost frame (own time) and by every project function on the stack
(inclusive time), leaving out idle pool threads, so the benchmark can print the top costs
beside a measure that misses its goal. The event loop's own frame (``Runner.run``) is
uvloop's C code: waiting for sockets and parsing HTTP, which py-spy cannot tell apart.
py-spy samples from outside the process, so the server runs unmodified; it needs ptrace
rights (root, or ``kernel.yama.ptrace_scope`` 0).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PY_SPY = Path(sys.executable).with_name("py-spy")


@contextmanager
def profiled(pid: int, path: Path, rate: int = 200) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [
            str(PY_SPY),
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            str(rate),
            "--nonblocking",
            "--output",
            str(path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# Innermost frames of threads waiting for work (the thread pool's idle workers): not cost.
IDLE = ("Condition.wait (threading.py", "WorkerThread.run (_asyncio.py", "_worker (thread.py")


def _short(frame: str, line: bool = True) -> str:
    """``func (path/to/module.py:12)`` without the directories (and without the line)."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit("/", 1)[-1]
    if not line:
        where = where.rsplit(":", 1)[0]
    return f"{name} ({where})" if where else name


def top(path: Path, n: int = 12) -> dict[str, list[tuple[str, float]]]:
    """The ``n`` largest own and inclusive shares (percent of samples) in a raw profile."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    if not path.exists():
        return {"own": [], "inclusive": []}
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdecimal():
            continue
        count = int(count_text)
        raw = [f for f in stack.split(";") if f]
        frames = [_short(f) for f in raw]
        if not frames or frames[-1].startswith(IDLE):
            continue
        total += count
        own[frames[-1]] += count
        # Inclusive time of the project's own functions (not the server's or the CLI's).
        for frame in {_short(f, False) for f in raw if "clinictext/" in f and "/cli/" not in f}:
            inclusive[frame] += count
    if not total:
        return {"own": [], "inclusive": []}

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(k, round(100 * v / total, 1)) for k, v in counter.most_common(n)]

    return {"own": share(own), "inclusive": share(inclusive), "samples": [("total", total)]}
