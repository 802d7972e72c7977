"""End-to-end measures of the scale benchmark: delivery throughput against the carrier
simulator's own ceiling, workers on PostgreSQL, memory over a long run, and pacing.

* ``raw_simulator``: a standalone ``clinictext simulator`` with its status callbacks posted to
  a sink (``bench.scale_servers sink``), fed by the load generator at 20 in flight. Texts
  accepted and texts whose ``delivered`` callback reached the sink, per second: the ceiling
  the system's throughput is divided by (the system cannot deliver faster than the carrier
  it talks to, on the same CPUs).
* ``end_to_end``: the same texts through clinictext: a fresh database seeded as
  ``bench/dispatch.py`` seeds it (reused from there), the texts queued in bulk before the
  dispatcher starts, from its four numbers in turn (at 1,000 mps each, so the numbers' pace
  does not bound the measure: one number alone would cap it at 1,000 texts/s), then
  ``serve --no-dispatch`` and N ``worker`` processes, or ``serve`` with its own
  dispatcher. The clock starts at the first hand-over recorded in the database (so process
  start-up is not counted) and stops at the last text's delivery recorded there. Optionally
  with a standalone simulator (so the server, the worker and the simulator each have their
  own resident set, sampled at the start, at the end and at the peak).
* ``pacing``: the largest number of segments any sender handed over in a sliding one-second
  window, from the hand-over times recorded in the database, against its ``mps``.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from tests.pg import free_port
from tests.support import queue_texts, seed_clinic, wait_http

from bench import dispatch
from bench.load import RequestSpec, cpu_seconds, rss_mib, run_load
from clinictext.providers.factory import SIMULATOR_ACCOUNT_SID, SIMULATOR_AUTH_TOKEN
from clinictext.store.db import make_engine, read_only, session_factory
from clinictext.store.models import Message

BIN = dispatch.BIN
T = TypeVar("T")
PATIENTS = 50
FIRST_PHONE = 14155552000


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINICTEXT_")}
    env["CLINICTEXT_LOG_LEVEL"] = "WARNING"
    env.update(extra)
    return env


@contextmanager
def started(args: list[str], env: dict[str, str], ready: str | None = None) -> Iterator[int]:
    """A subprocess for the length of the block; its pid. ``ready`` is a URL to wait for."""
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=os.getcwd()
    )
    try:
        if ready is not None:
            wait_http(ready, timeout=60)
        yield proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def helper_server(kind: str, port: int) -> list[str]:
    return [sys.executable, "-m", "bench.scale_servers", kind, "--port", str(port)]


def simulator_args(port: int) -> list[str]:
    return [str(BIN), "simulator", "--host", "127.0.0.1", "--port", str(port)]


def carrier_env(simulator: str) -> dict[str, str]:
    """The settings that send through the Twilio adapter to a standalone simulator."""
    return {
        "CLINICTEXT_PROVIDER": "twilio",
        "CLINICTEXT_TWILIO_ACCOUNT_SID": SIMULATOR_ACCOUNT_SID,
        "CLINICTEXT_TWILIO_AUTH_TOKEN": SIMULATOR_AUTH_TOKEN,
        "CLINICTEXT_TWILIO_API_BASE_URL": simulator,
        "CLINICTEXT_TWILIO_MESSAGING_BASE_URL": simulator,
        "CLINICTEXT_TWILIO_NUMBERS_BASE_URL": simulator,
    }


def _sink_delivered(url: str) -> tuple[int, float | None]:
    """Callbacks ``delivered`` the sink has had, and the wall-clock time of the last."""
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as r:
        counts = json.loads(r.read())
    return int(counts.get("delivered", 0)), counts.get("last", {}).get("delivered")


def raw_simulator(texts: int, concurrency: int = 20) -> dict[str, Any]:
    """The standalone simulator's capacity with its callbacks posted to a sink."""
    sink_port, sim_port = free_port(), free_port()
    env = base_env()
    with ExitStack() as stack:
        stack.enter_context(
            started(helper_server("sink", sink_port), env, f"http://127.0.0.1:{sink_port}/healthz")
        )
        sim_pid = stack.enter_context(
            started(simulator_args(sim_port), env, f"http://127.0.0.1:{sim_port}/_control/chaos")
        )
        url = (
            f"http://127.0.0.1:{sim_port}/2010-04-01/Accounts/{SIMULATOR_ACCOUNT_SID}/Messages.json"
        )
        auth = base64.b64encode(f"{SIMULATOR_ACCOUNT_SID}:{SIMULATOR_AUTH_TOKEN}".encode())
        headers = {"Authorization": "Basic " + auth.decode()}
        callback = f"http://127.0.0.1:{sink_port}/status"

        def make(n: int) -> RequestSpec:
            form = {
                "To": f"+{FIRST_PHONE + n % PATIENTS}",
                "From": dispatch.SENDERS[0],
                "Body": f"Reminder {n}",
                "StatusCallback": callback,
            }
            return RequestSpec("POST", url, headers=headers, data=form)

        rss_start = rss_mib(sim_pid)
        cpu_start = cpu_seconds(sim_pid)
        began, began_wall = time.perf_counter(), time.time()
        load = run_load(make, texts, concurrency, timeout=30)
        accepted_s = time.perf_counter() - began
        count_url = f"http://127.0.0.1:{sink_port}/count"
        deadline = time.monotonic() + 120 + texts / 20
        delivered, last = 0, None
        while time.monotonic() < deadline:
            delivered, last = _sink_delivered(count_url)
            if delivered >= load.ok((201,)):
                break
            time.sleep(0.05)
        # From the sink's own clock, not this poll's (up to a poll interval late).
        delivered_s = (last - began_wall) if last is not None else time.perf_counter() - began
        rss_end = rss_mib(sim_pid)
        cpu_used = cpu_seconds(sim_pid) - cpu_start
    accepted = load.ok((201,))
    return {
        "texts": texts,
        "accepted": accepted,
        "delivered": delivered,
        "handed_per_s": round(accepted / accepted_s, 1),
        "delivered_per_s": round(delivered / delivered_s, 1),
        "simulator_rss_mib": [round(rss_start, 1), round(rss_end, 1)],
        "request_p99_ms": round(load.percentile(99), 1),
        "simulator_cpu_ms_per_text": round(cpu_used * 1000 / max(delivered, 1), 2),
    }


def _retried(read: Callable[[], T], attempts: int = 20) -> T:
    """``read()``, tried again while SQLite's lock is busy (a loaded machine can hold it for
    longer than the engine's bounded wait)."""
    for attempt in range(attempts):
        try:
            return read()
        except OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2)
    raise AssertionError("unreachable")


def _counts(engine: Any) -> dict[str, int]:
    def read() -> dict[str, int]:
        with engine.connect() as conn:
            rows = conn.execute(select(Message.status, func.count()).group_by(Message.status)).all()
        return {status: count for status, count in rows}

    return _retried(read)


def _timestamp(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite's min() and max() of a timestamp column: its text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _span(engine: Any) -> tuple[datetime | None, datetime | None, datetime | None]:
    """The first and the last hand-over, and the last text delivered, as the processes
    recorded them: exact, where the poll that waits for them only sees them up to a poll
    interval late (a tenth of a second is a tenth of a short run)."""

    def read() -> Any:
        with engine.connect() as conn:
            first, last = conn.execute(
                select(func.min(Message.handed_at), func.max(Message.handed_at))
            ).one()
            delivered = conn.execute(
                select(func.max(Message.updated_at)).where(Message.status == "delivered")
            ).scalar_one()
        return first, last, delivered

    first, last, delivered = _retried(read)
    return _timestamp(first), _timestamp(last), _timestamp(delivered)


def end_to_end(
    backend: str,
    texts: int,
    *,
    workers: int = 1,
    in_serve: bool = False,
    standalone: bool = False,
    mps: int = 1000,
    keep: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Queue ``texts`` and deliver them through clinictext; throughput and resident sets.

    ``keep``, if given, receives the hand-over times and segments per sender (for pacing)."""
    with dispatch.database(backend) as url, ExitStack() as stack:
        engine = make_engine(url)
        stack.callback(engine.dispose)
        factory = session_factory(engine)
        # The polls only read: on SQLite they must not take the write lock from the
        # processes being measured.
        reader = read_only(engine)
        seeded = seed_clinic(
            factory,
            senders=dispatch.SENDERS,
            mps=mps,
            patient_count=PATIENTS,
            first_phone=FIRST_PHONE,
            name="Bench Clinic",
        )
        pids = seeded.patient_ids
        for lo in range(0, texts, 10_000):
            batch = range(lo, min(texts, lo + 10_000))
            queue_texts(
                factory,
                seeded.org_id,
                [(pids[i % PATIENTS], f"Reminder {i}") for i in batch],
                spread=True,
            )
        port = free_port()
        extra = {
            "CLINICTEXT_DATABASE_URL": url,
            "CLINICTEXT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        }
        procs: dict[str, int] = {}
        if standalone:
            sim_port = free_port()
            sim = f"http://127.0.0.1:{sim_port}"
            procs["simulator"] = stack.enter_context(
                started(simulator_args(sim_port), base_env(**extra), f"{sim}/_control/chaos")
            )
            extra.update(carrier_env(sim))
        env = base_env(**extra)
        serve = [str(BIN), "serve", "--port", str(port)]
        if not in_serve:
            serve.append("--no-dispatch")
        procs["serve"] = stack.enter_context(
            started(serve, env, f"http://127.0.0.1:{port}/healthz")
        )
        for n in range(workers if not in_serve else 0):
            procs[f"worker{n + 1}"] = stack.enter_context(started([str(BIN), "worker"], env))
        # The resident sets at the start are read once the first text is handed over, when
        # every process has finished starting.
        rss: dict[str, list[float]] = {}
        peak = {name: rss_mib(pid) for name, pid in procs.items()}
        deadline = time.monotonic() + 180 + texts / 10
        counts: dict[str, int] = {}
        complete = False
        last_rss = 0.0
        timeline: list[dict[str, float]] = []
        cpu: dict[str, float] = {}
        cpu_ms: dict[str, float] = {}
        while time.monotonic() < deadline:
            counts = _counts(reader)
            delivered = counts.get("delivered", 0)
            if not rss and counts.get("queued", 0) < texts:
                rss = {name: [rss_mib(pid)] for name, pid in procs.items()}
                cpu = {name: cpu_seconds(pid) for name, pid in procs.items()}
            if delivered >= texts:
                complete = True
                break
            if time.monotonic() - last_rss > 1:
                last_rss = time.monotonic()
                sizes = {name: rss_mib(pid) for name, pid in procs.items()}
                for name, size in sizes.items():
                    peak[name] = max(peak[name], size)
                # A sample at every tenth of the texts delivered: flat, or still growing?
                if rss and delivered >= len(timeline) * texts / 10:
                    timeline.append(
                        {"delivered": delivered, **{k: round(v, 1) for k, v in sizes.items()}}
                    )
            time.sleep(0.1)
        handed_at, handed_done, done_at = _span(reader)
        for name, pid in procs.items():
            rss.setdefault(name, [float("nan")]).append(rss_mib(pid))
            # CPU per text delivered, from the first hand-over on: the cost model's input.
            if name in cpu and counts.get("delivered"):
                used = cpu_seconds(pid) - cpu[name]
                cpu_ms[name] = round(used * 1000 / counts["delivered"], 2)
            peak[name] = max(peak[name], rss[name][-1])
        if keep is not None:

            def handed() -> list[tuple[Any, ...]]:
                with reader.connect() as conn:
                    return [
                        tuple(row)
                        for row in conn.execute(
                            select(Message.from_phone, Message.handed_at, Message.segments)
                            .where(Message.handed_at.is_not(None))
                            .order_by(Message.handed_at)
                        )
                    ]

            keep["handed"] = _retried(handed)
            keep["mps"] = mps
    result: dict[str, Any] = {
        "backend": backend,
        "texts": texts,
        "workers": 0 if in_serve else workers,
        "dispatcher": "serve" if in_serve else "worker",
        "simulator": "standalone" if standalone else "mounted",
        "statuses": counts,
        "rss_mib": {k: [round(v, 1) for v in values] for k, values in rss.items()},
        "peak_rss_mib": {k: round(v, 1) for k, v in peak.items()},
        "rss_timeline_mib": timeline,
        "cpu_ms_per_text": cpu_ms,
    }
    if not complete or handed_at is None or done_at is None or handed_done is None:
        result.update({"handed_per_s": 0.0, "delivered_per_s": 0.0, "complete": False})
        return result
    handed_s = max((handed_done - handed_at).total_seconds(), 1e-3)
    done_s = max((done_at - handed_at).total_seconds(), 1e-3)
    result.update(
        {
            "complete": True,
            "handed_s": round(handed_s, 2),
            "delivered_s": round(done_s, 2),
            "handed_per_s": round(texts / handed_s, 1),
            "delivered_per_s": round(texts / done_s, 1),
        }
    )
    return result


def max_window_segments(handed: list[tuple[str, Any, int]], window: float = 1.0) -> dict[str, int]:
    """Per sender, the most segments handed over within any ``window`` seconds."""
    by_sender: dict[str, list[tuple[float, int]]] = {}
    for sender, at, segments in handed:
        if isinstance(at, str):
            at = datetime.fromisoformat(at)
        by_sender.setdefault(sender, []).append((at.timestamp(), segments))
    worst: dict[str, int] = {}
    for sender, items in by_sender.items():
        items.sort()
        lo, total, best = 0, 0, 0
        for t, segments in items:
            total += segments
            while items[lo][0] <= t - window:
                total -= items[lo][1]
                lo += 1
            best = max(best, total)
        worst[sender] = best
    return worst


def pacing(backend: str, texts: int, mps: int = 25) -> dict[str, Any]:
    """Texts at ``mps`` through one worker; the fullest one-second window per sender."""
    keep: dict[str, Any] = {}
    run = end_to_end(backend, texts, mps=mps, keep=keep)
    worst = max_window_segments(keep.get("handed", []))
    return {
        "backend": backend,
        "texts": texts,
        "mps": mps,
        "max_segments_per_window": worst,
        "max": max(worst.values(), default=0),
        "complete": run["complete"],
        "handed_per_s": run["handed_per_s"],
    }
