"""Every measure of clinic-group scale, side by side in one run, each against its baseline.

One command, per backend (SQLite and a throwaway PostgreSQL):

1. ``healthz``: ``GET /healthz`` at 20 in flight, ÷ a minimal uvicorn + Starlette route run
   in the same run with the same options; and the server's CPU per request.
2. ``e2e``: texts handed and delivered per second, ÷ the raw capacity of a standalone carrier
   simulator posting its callbacks to a sink; with ``serve --no-dispatch`` + 1 worker, and
   with ``serve`` running its own dispatcher.
3. ``webhooks``: signed inbound texts and status callbacks at 50 in flight, after 100 unmeasured
   ones (the server's first batches fill its caches); and whether the
   server wedged (requests unanswered within the timeout, connection errors).
4. ``send``: ``POST /api/v1/messages`` one at a time at the small and the large history, ÷
   an authenticated ``GET /api/v1/org`` (one lookup) measured alongside; at 20 in flight on
   the large history (on PostgreSQL also with ``serve --processes 2``). ``burst``: 20 and
   50 in flight on a fresh database with the dispatcher running, counting what was
   accepted, what failed and what hung.
5. ``lists``: a patient's messages at the large history, and name-prefix search.
6. ``workers``: PostgreSQL, 2 workers ÷ 1 worker end to end.
7. ``memory``: resident sets of the server, the worker and a standalone simulator at the
   start and the end of a long run.
8. ``pacing``: the fullest one-second window of any sender at mps 25.

The history is seeded in bulk by ``bench/seed.py`` once per backend (the small history,
then the rest added to it); the end-to-end measures start from a fresh database each. The
table gives each measure's value, goal, ratio against its baseline and whether it met the
goal; the JSON (``--json``) holds every number behind it and the machine's load average
before and after. ``--quick`` runs every measure at small sizes in a few minutes.

Run: ``python -m bench.scale [--backends sqlite postgresql] [--only healthz send ...]
[--quick] [--json bench/results/scale.json]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from tests.pg import free_port, migrated_postgres
from twilio.request_validator import RequestValidator

from bench import scale_e2e as e2e
from bench import seed as seeding
from bench.http_clients import machine_info
from bench.load import LoadResult, RequestSpec, cpu_seconds, run_load
from bench.scale_e2e import base_env, helper_server, started
from bench.scale_profile import profiled, top
from clinictext.providers.factory import SIMULATOR_AUTH_TOKEN
from clinictext.simulator.settings import DEFAULT_HISTORY
from clinictext.store.db import make_engine, session_factory, transaction, upgrade
from clinictext.store.models import Patient

console = Console(width=160)
# With --profile: where raw py-spy profiles of the server under each measure's load go.
PROFILE_DIR: Path | None = None
MEASURES = ("healthz", "e2e", "webhooks", "send", "burst", "lists", "workers", "memory", "pacing")


@dataclass(frozen=True)
class Sizes:
    patients: int = 50_000
    small_history: int = 100_000
    large_history: int = 1_000_000
    healthz: int = 5000
    one_at_a_time: int = 500
    concurrent: int = 1500
    lists: int = 300
    webhooks: int = 3000
    e2e_texts: int = 3000
    long_texts: int = 100_000
    pacing_texts: int = 1000
    burst: int = 1500
    burst_deadline_s: float = 240.0


QUICK = Sizes(
    patients=5000,
    small_history=10_000,
    large_history=50_000,
    healthz=2000,
    one_at_a_time=150,
    concurrent=400,
    lists=100,
    webhooks=800,
    e2e_texts=800,
    long_texts=3000,
    pacing_texts=300,
    burst=600,
    burst_deadline_s=90.0,
)
TINY = Sizes(
    patients=200,
    small_history=500,
    large_history=1500,
    healthz=100,
    one_at_a_time=20,
    concurrent=40,
    lists=20,
    webhooks=60,
    e2e_texts=60,
    long_texts=100,
    pacing_texts=50,
    burst=60,
    burst_deadline_s=60.0,
)


@dataclass
class Row:
    backend: str
    measure: str
    what: str
    value: str
    goal: str
    ratio: float | None = None
    baseline: str = ""
    met: bool | None = None


def fmt(x: float, digits: int = 1) -> str:
    return "nan" if math.isnan(x) else f"{x:,.{digits}f}"


# -- the server under test ------------------------------------------------------------------


@contextmanager
def database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/scale.db"
            upgrade(url)
            yield url
        return
    with migrated_postgres("scale") as url:
        yield url


@dataclass
class Server:
    base: str
    pid: int
    api_key: str

    def api(self, path: str) -> str:
        return f"{self.base}/api/v1{path}"

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@contextmanager
def serving(
    url: str, api_key: str, *, dispatch: bool = False, processes: int = 1
) -> Iterator[Server]:
    """``clinictext serve`` on ``url``. With ``processes`` > 1 (PostgreSQL) the carrier is a
    standalone simulator (the mounted one lives in one process), and the pid is the
    supervisor's, not a server process's."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = base_env(CLINICTEXT_DATABASE_URL=url, CLINICTEXT_PUBLIC_URL=base)
    args = [str(e2e.BIN), "serve", "--port", str(port), "--processes", str(processes)]
    if not dispatch:
        args.append("--no-dispatch")
    with ExitStack() as stack:
        if processes > 1:
            sim = f"http://127.0.0.1:{free_port()}"
            sim_args = e2e.simulator_args(int(sim.rsplit(":", 1)[1]))
            stack.enter_context(started(sim_args, env, f"{sim}/_control/chaos"))
            env.update(e2e.carrier_env(sim))
        pid = stack.enter_context(started(args, env, f"{base}/healthz"))
        yield Server(base, pid, api_key)


@contextmanager
def maybe_profiled(pid: int, name: str, out: dict[str, Any]) -> Iterator[None]:
    """Under ``--profile``, py-spy on ``pid`` for the block; its top costs go to ``out``."""
    if PROFILE_DIR is None:
        yield
        return
    path = PROFILE_DIR / f"{out['backend']}-{name}.txt"
    with profiled(pid, path):
        yield
    out.setdefault("profiles", {})[name] = top(path)


def offset(make: Callable[[int], RequestSpec], by: int) -> Callable[[int], RequestSpec]:
    """``make`` numbering its requests from ``by`` (distinct bodies across blocks)."""
    return lambda n: make(n + by)


def constant(spec: RequestSpec) -> Callable[[int], RequestSpec]:
    """The same request every time."""
    return lambda n: spec


# -- 1. healthz -----------------------------------------------------------------------------


def measure_healthz(server: Server, sizes: Sizes, backend: str, out: dict[str, Any]) -> list[Row]:
    port = free_port()
    minimal_url = f"http://127.0.0.1:{port}/healthz"
    with started(helper_server("minimal", port), base_env(), minimal_url) as minimal_pid:
        targets = {
            "minimal": (RequestSpec("GET", minimal_url), minimal_pid),
            "serve": (RequestSpec("GET", f"{server.base}/healthz"), server.pid),
        }
        results = {name: LoadResult(0, 20) for name in targets}
        cpu_used = dict.fromkeys(targets, 0.0)
        for spec, _ in targets.values():
            run_load(constant(spec), min(200, sizes.healthz), 20)  # warm-up
        # Interleaved in blocks, so a burst of load from elsewhere on the machine hits both.
        blocks = 4
        for b in range(blocks):
            n = sizes.healthz // blocks + (b < sizes.healthz % blocks)
            for name, (spec, pid) in targets.items():
                cpu = cpu_seconds(pid)
                if name == "serve" and b == 0:
                    with maybe_profiled(pid, "healthz", out):
                        results[name].merge(run_load(constant(spec), n, 20))
                else:
                    results[name].merge(run_load(constant(spec), n, 20))
                cpu_used[name] += cpu_seconds(pid) - cpu
        runs = {
            name: {
                **result.summary(),
                "server_cpu_ms_per_request": round(
                    cpu_used[name] * 1000 / max(1, result.ok((200,))), 3
                ),
            }
            for name, result in results.items()
        }
    out["healthz"] = runs
    ratio = runs["serve"]["req_per_s"] / max(runs["minimal"]["req_per_s"], 1e-9)
    s = runs["serve"]
    return [
        Row(
            backend,
            "healthz",
            "GET /healthz, 20 in flight",
            f"{fmt(s['req_per_s'])} req/s, p50 {s['p50_ms']} / p99 {s['p99_ms']} ms, "
            f"{s['server_cpu_ms_per_request']} ms CPU/req",
            "≥ 0.5 × minimal route",
            ratio,
            f"minimal {fmt(runs['minimal']['req_per_s'])} req/s, "
            f"{runs['minimal']['server_cpu_ms_per_request']} ms CPU/req",
            ratio >= 0.5 and s["errors"] + s["hung"] == 0,
        )
    ]


# -- 4. the send path ------------------------------------------------------------------------


def _send_spec(server: Server, patients: list[int]) -> Callable[[int], RequestSpec]:
    url = server.api("/messages")
    headers = server.auth

    def make(n: int) -> RequestSpec:
        body = {
            "patient_id": patients[n % len(patients)],
            "channel": "clinic",
            "body": f"Your crown is ready for pickup ({n}).",
        }
        return RequestSpec("POST", url, headers=headers, json=body)

    return make


def measure_send_one(
    server: Server, seeded: seeding.Seeded, sizes: Sizes, backend: str, out: dict[str, Any]
) -> list[Row]:
    org = RequestSpec("GET", server.api("/org"), headers=server.auth)
    make_send = _send_spec(server, seeded.sample_patient_ids)
    run_load(constant(org), 50, 1)
    run_load(lambda n: make_send(n + 10**6), 20, 1)
    # Interleaved in blocks, so a burst of load from elsewhere on the machine hits both.
    baseline, send = LoadResult(0, 1), LoadResult(0, 1)
    blocks = 5
    key = f"send_one_at_{seeded.messages}"
    with maybe_profiled(server.pid, key, out):  # the baseline's requests are in it too
        for b in range(blocks):
            n = sizes.one_at_a_time // blocks + (b < sizes.one_at_a_time % blocks)
            baseline.merge(run_load(constant(org), n, 1))
            send.merge(run_load(offset(make_send, b * 100_000), n, 1))
    out[key] = {"org": baseline.summary(), "send": send.summary(), "history": seeded.messages}
    ratio = send.rate / max(baseline.rate, 1e-9)
    accepted = send.ok((202,))
    return [
        Row(
            backend,
            "send",
            f"POST /messages one at a time, {seeded.messages:,} stored",
            f"{fmt(send.rate)} req/s, p95 {fmt(send.percentile(95))} ms, "
            f"{accepted}/{send.total} accepted",
            "≥ 0.5 × GET /org, flat in history",
            ratio,
            f"GET /org {fmt(baseline.rate)} req/s, p95 {fmt(baseline.percentile(95))} ms",
            ratio >= 0.5 and accepted == send.total,
        )
    ]


def measure_send_concurrent(
    server: Server,
    seeded: seeding.Seeded,
    sizes: Sizes,
    backend: str,
    out: dict[str, Any],
    processes: int = 1,
) -> list[Row]:
    """20 sends in flight; ``processes`` says how many the server runs (profiled only with
    one: the pid of several is their supervisor's)."""
    key = "send_20_in_flight" + (f"_{processes}_processes" if processes > 1 else "")
    patients = seeded.sample_patient_ids[:: -1 if processes == 1 else 1]  # not the same ones
    with maybe_profiled(server.pid, key, out) if processes == 1 else ExitStack():
        result = run_load(_send_spec(server, patients), sizes.concurrent, 20, timeout=30)
    out[key] = {**result.summary(), "history": seeded.messages, "processes": processes}
    p99 = result.percentile(99)
    accepted = result.ok((202,))
    shape = f", serve --processes {processes}" if processes > 1 else ""
    return [
        Row(
            backend,
            "send",
            f"POST /messages 20 in flight, {seeded.messages:,} stored{shape}",
            f"p99 {fmt(p99)} ms, {fmt(result.rate)} req/s, {accepted}/{result.total} accepted",
            "p99 ≤ 100 ms",
            None,
            "",
            p99 <= 100 and accepted == result.total,
        )
    ]


def measure_burst(backend: str, sizes: Sizes, out: dict[str, Any]) -> list[Row]:
    """A fresh database, the dispatcher running: 20 and then 50 sends in flight."""
    rows = []
    with database(backend) as url:
        factory = session_factory(make_engine(url))
        seeded = e2e.seed_clinic(
            factory, senders=e2e.dispatch.SENDERS, mps=1000, patient_count=e2e.PATIENTS
        )
        from clinictext.services import orgs

        with transaction(factory) as s:
            key = orgs.create_api_key(s, seeded.org_id, name="Burst", actor="bench").key
        factory.kw["bind"].dispose()
        with serving(url, key, dispatch=True) as server:
            for conc in (20, 50):
                result = run_load(
                    _send_spec(server, seeded.patient_ids),
                    sizes.burst,
                    conc,
                    timeout=30,
                    deadline=sizes.burst_deadline_s,
                )
                summary = result.summary()
                out[f"burst_{conc}"] = summary
                accepted = result.ok((202,))
                e500, e503 = result.statuses.get(500, 0), result.statuses.get(503, 0)
                other = sum(result.statuses.values()) - accepted - e500 - e503
                rows.append(
                    Row(
                        backend,
                        "burst",
                        f"POST /messages {conc} in flight, fresh db, dispatcher on",
                        f"{accepted}/{sizes.burst} accepted, {e500}×500, {e503}×503, "
                        f"{other} other, {result.hung} hung, {result.errors} errors, "
                        f"{result.not_sent} not sent; p99 {fmt(result.percentile(99))} ms",
                        "all accepted",
                        None,
                        "",
                        accepted == sizes.burst,
                    )
                )
    return rows


# -- 5. lists --------------------------------------------------------------------------------


def measure_lists(
    server: Server, seeded: seeding.Seeded, sizes: Sizes, backend: str, out: dict[str, Any]
) -> list[Row]:
    busy, sample = seeded.busy_patient_ids, seeded.sample_patient_ids

    def history(n: int) -> RequestSpec:
        pid = busy[n % len(busy)] if n % 10 == 0 and busy else sample[n % len(sample)]
        return RequestSpec("GET", server.api(f"/patients/{pid}/messages"), headers=server.auth)

    prefixes = seeded.name_prefixes or ["Smi"]

    def search(n: int) -> RequestSpec:
        q = prefixes[n % len(prefixes)]
        return RequestSpec("GET", server.api(f"/patients?q={q}"), headers=server.auth)

    rows = []
    for name, make, what in (
        ("patient_messages", history, f"GET /patients/{{id}}/messages, {seeded.messages:,} stored"),
        ("patient_search", search, f"GET /patients?q=<prefix>, {seeded.patients:,} patients"),
    ):
        run_load(make, 10, 1)
        with maybe_profiled(server.pid, name, out):
            result = run_load(make, sizes.lists, 1)
        out[name] = result.summary()
        p95 = result.percentile(95)
        rows.append(
            Row(
                backend,
                "lists",
                what,
                f"p95 {fmt(p95)} ms, p50 {fmt(result.percentile(50))} ms, "
                f"{result.ok((200,))}/{result.total} ok",
                "p95 ≤ 20 ms",
                None,
                "",
                p95 <= 20 and result.ok((200,)) == result.total,
            )
        )
    return rows


# -- 3. webhooks ---------------------------------------------------------------------------


WEBHOOK_WARMUP = 100


def measure_webhooks(
    server: Server,
    seeded: seeding.Seeded,
    phones: list[str],
    sizes: Sizes,
    backend: str,
    out: dict[str, Any],
) -> list[Row]:
    validator = RequestValidator(SIMULATOR_AUTH_TOKEN)
    inbound_url = f"{server.base}/webhooks/twilio/sms"
    run_id = uuid.uuid4().hex[:8]

    def inbound(n: int) -> RequestSpec:
        params = {
            "MessageSid": f"SMin{run_id}{n:020d}",
            "AccountSid": "AC" + "0" * 32,
            "From": phones[n % len(phones)],
            "To": seeded.clinic_sender,
            "Body": "See you on Thursday",
            "NumSegments": "1",
        }
        signature = validator.compute_signature(inbound_url, params)
        return RequestSpec(
            "POST", inbound_url, headers={"X-Twilio-Signature": signature}, data=params
        )

    flight = seeded.in_flight or [(0, "SMunknown")]

    def status(n: int) -> RequestSpec:
        mid, sid = flight[n % len(flight)]
        url = f"{server.base}/webhooks/twilio/status?mid={mid}"
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": "delivered",
            "SmsStatus": "delivered",
            "AccountSid": "AC" + "0" * 32,
        }
        signature = validator.compute_signature(url, params)
        return RequestSpec("POST", url, headers={"X-Twilio-Signature": signature}, data=params)

    rows = []
    # Unmeasured requests first: the server's first batches fill its caches (compiled
    # statements, parsed numbers) and would otherwise be most of a short run's p99.
    warmup = WEBHOOK_WARMUP
    for name, make, total, ok in (
        ("inbound", inbound, sizes.webhooks, (200,)),
        # Each callback delivers a text of its own, the warm-up's too.
        ("status", status, min(sizes.webhooks, max(len(seeded.in_flight) - warmup, 1)), (204,)),
    ):
        with maybe_profiled(server.pid, f"webhook_{name}", out):
            result = run_load(
                make, total, 50, timeout=10, deadline=max(120.0, total / 5), warmup=warmup
            )
        health = run_load(constant(RequestSpec("GET", f"{server.base}/healthz")), 1, 1, timeout=10)
        # Wedged: requests left unanswered or refused, or the server not answering after.
        wedged = result.hung + result.errors + (1 - health.ok((200,)))
        summary = {**result.summary(), "healthz_after": health.ok((200,)) == 1}
        out[f"webhook_{name}"] = summary
        answered_ok = result.ok(ok)
        p99 = result.percentile(99)
        rows.append(
            Row(
                backend,
                "webhooks",
                f"signed {name} webhook, 50 in flight",
                f"{fmt(result.rate)} req/s, p99 {fmt(p99)} ms, {answered_ok}/{total} ok, "
                f"{'WEDGED ' if wedged else ''}{result.hung} hung, {result.errors} errors, "
                f"{result.not_sent} not sent in time",
                "≥ 1,000 req/s, p99 ≤ 50 ms, never wedged",
                None,
                "",
                result.rate >= 1000 and p99 <= 50 and not wedged and answered_ok == total,
            )
        )
    return rows


# -- 2, 6, 7, 8: end to end ----------------------------------------------------------------


def measure_e2e(backend: str, sizes: Sizes, wanted: set[str], out: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    if "e2e" in wanted:
        raw = e2e.raw_simulator(sizes.e2e_texts)
        out["raw_simulator"] = raw
        base = f"raw simulator {fmt(raw['handed_per_s'])} / {fmt(raw['delivered_per_s'])} per s"
        # The carrier mounted inside ``serve`` (as ``make demo`` runs it: serve then carries
        # the carrier's work too), and standalone (as Twilio is: outside clinictext).
        for in_serve, standalone in ((False, False), (True, False), (False, True)):
            run = e2e.end_to_end(backend, sizes.e2e_texts, in_serve=in_serve, standalone=standalone)
            out[f"e2e_{run['dispatcher']}" + ("_standalone" if standalone else "")] = run
            label = (
                "serve + its own dispatcher"
                if in_serve
                else "serve --no-dispatch + 1 worker"
                + (", standalone carrier" if standalone else "")
            )
            handed = run["handed_per_s"] / max(raw["handed_per_s"], 1e-9)
            delivered = run["delivered_per_s"] / max(raw["delivered_per_s"], 1e-9)
            rows.append(
                Row(
                    backend,
                    "e2e",
                    f"end to end, {label}",
                    f"{fmt(run['handed_per_s'])} handed/s ({handed:.2f}), "
                    f"{fmt(run['delivered_per_s'])} delivered/s",
                    "delivered ≥ 0.70 × raw",
                    delivered,
                    base,
                    delivered >= 0.7 and run["complete"],
                )
            )
    if "workers" in wanted and backend == "postgresql":
        one = e2e.end_to_end(backend, sizes.e2e_texts, workers=1)
        two = e2e.end_to_end(backend, sizes.e2e_texts, workers=2)
        out["workers"] = {"1": one, "2": two}
        ratio = two["delivered_per_s"] / max(one["delivered_per_s"], 1e-9)
        rows.append(
            Row(
                backend,
                "workers",
                "2 workers ÷ 1 worker, delivered/s",
                f"{fmt(two['delivered_per_s'])} delivered/s with 2 "
                f"({fmt(two['handed_per_s'])} handed/s)",
                "≥ 1",
                ratio,
                f"1 worker {fmt(one['delivered_per_s'])} delivered/s",
                ratio >= 1 and two["complete"],
            )
        )
    if "memory" in wanted:
        run = e2e.end_to_end(backend, sizes.long_texts, standalone=True)
        out["memory"] = run
        rss = run["rss_mib"]
        # Warm-up (imports, caches, the allocator's arenas) fills the first tenth of the
        # texts; "flat" is judged from there to the end, the start shown beside it. The
        # standalone simulator keeps the newest DEFAULT_HISTORY texts it was sent, each with
        # its callback log, which grows until the text's last callback: its memory stops
        # growing once every text it keeps has had its callbacks, which trails the texts
        # delivered by as far as the callbacks trail the sends (measured: up to 30,000
        # texts on PostgreSQL). It is judged over the last fifth of the run, from the
        # moment its history is full at the earliest (bounded, not flat, before it).
        timeline = run.get("rss_timeline_mib", [])
        warm = timeline[1] if len(timeline) > 1 else None
        settled = max(DEFAULT_HISTORY, 0.8 * sizes.long_texts)
        full = next((t for t in timeline if t["delivered"] >= settled), None)

        def since(name: str) -> dict[str, float] | None:
            mark = full if name == "simulator" and full is not None else warm
            return mark if mark and name in mark else None

        def span(name: str) -> str:
            start, end = rss.get(name, [float("nan"), float("nan")])
            mark = since(name)
            middle = f"→{fmt(mark[name], 0)}" if mark else ""
            if mark is full and full is not None:
                middle += f" (at {full['delivered']:,.0f}, its history full)"
            return f"{name} {fmt(start, 0)}{middle}→{fmt(end, 0)}"

        def flat(name: str, values: list[float]) -> bool:
            mark = since(name)
            return values[1] <= (mark[name] if mark else values[0]) * 1.1

        measured = {
            name: values
            for name, values in rss.items()
            if len(values) == 2 and not math.isnan(values[0])
        }
        after = f" after {warm['delivered']:,.0f}" if warm else ""
        bounded = (
            f"; the simulator over the last fifth, its {DEFAULT_HISTORY:,} texts kept"
            if full
            else ""
        )
        rows.append(
            Row(
                backend,
                "memory",
                f"RSS MiB over {sizes.long_texts:,} texts (start→{after.strip() or 'end'}→end)"
                if warm
                else f"RSS MiB over {sizes.long_texts:,} texts (start→end)",
                ", ".join(span(n) for n in ("serve", "worker1", "simulator")),
                f"flat (≤ 10% growth{after}{bounded})",
                None,
                f"{fmt(run['delivered_per_s'])} delivered/s",
                run["complete"]
                and bool(measured)
                and all(flat(name, values) for name, values in measured.items()),
            )
        )
    if "pacing" in wanted:
        pace = e2e.pacing(backend, sizes.pacing_texts, mps=25)
        out["pacing"] = pace
        rows.append(
            Row(
                backend,
                "pacing",
                f"fullest 1 s window, mps 25, {sizes.pacing_texts} texts",
                f"{pace['max']} segments",
                "≤ mps (25)",
                pace["max"] / 25,
                "mps 25",
                pace["max"] <= 25 and pace["complete"],
            )
        )
    return rows


def one_e2e(
    backend: str, sizes: Sizes, measure: str, out: dict[str, Any]
) -> Callable[[], list[Row]]:
    return lambda: measure_e2e(backend, sizes, {measure}, out)


# -- one backend -----------------------------------------------------------------------------


def _phones(url: str, ids: list[int]) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(select(Patient.phone).where(Patient.id.in_(ids[:500]))))
    finally:
        engine.dispose()


class Guarded(list[Row]):
    """The rows of one backend; a measure that fails adds a failed row and the run goes on."""

    def __init__(self, backend: str) -> None:
        super().__init__()
        self.backend = backend

    def run(self, measure: str, fn: Callable[[], list[Row]]) -> None:
        try:
            self.extend(fn())
        except Exception as err:  # the other measures are still worth having
            console.print_exception(max_frames=4)
            self.append(
                Row(self.backend, measure, "did not finish", f"{type(err).__name__}: {err}"[:300],
                    "", met=False)
            )  # fmt: skip


def run_backend(backend: str, sizes: Sizes, wanted: set[str]) -> tuple[list[Row], dict[str, Any]]:
    rows = Guarded(backend)
    out: dict[str, Any] = {"backend": backend}
    seeded_needed = wanted & {"healthz", "webhooks", "send", "lists"}
    if seeded_needed:
        with database(backend) as url, ExitStack():
            in_flight = sizes.webhooks + WEBHOOK_WARMUP if "webhooks" in wanted else 0
            small = "send" in wanted
            console.print(f"{backend}: seeding {sizes.patients:,} patients …")
            first = sizes.small_history if small else sizes.large_history
            seeded = seeding.seed(url, sizes.patients, first, in_flight=0 if small else in_flight)
            out["seed"] = [_seed_info(seeded)]
            with serving(url, seeded.api_key) as server:
                if "healthz" in wanted:
                    rows.run("healthz", lambda: measure_healthz(server, sizes, backend, out))
                if small:
                    rows.run("send", lambda: measure_send_one(server, seeded, sizes, backend, out))
            if small:
                console.print(f"{backend}: adding texts up to {sizes.large_history:,} …")
                seeded = seeding.seed(
                    url,
                    sizes.patients,
                    sizes.large_history - seeded.messages,
                    org_id=seeded.org_id,
                    in_flight=in_flight,
                )
                out["seed"].append(_seed_info(seeded))
            if wanted & {"send", "lists", "webhooks"}:
                phones = _phones(url, seeded.sample_patient_ids)
                with serving(url, seeded.api_key) as server:
                    big = seeded
                    if small:
                        rows.run("send", lambda: measure_send_one(server, big, sizes, backend, out))
                        rows.run(
                            "send",
                            lambda: measure_send_concurrent(server, big, sizes, backend, out),
                        )
                    if "lists" in wanted:
                        rows.run("lists", lambda: measure_lists(server, big, sizes, backend, out))
                    if "webhooks" in wanted:
                        rows.run(
                            "webhooks",
                            lambda: measure_webhooks(server, big, phones, sizes, backend, out),
                        )
                if small and backend == "postgresql":
                    # The API's scale-out on one machine: a process a core.
                    with serving(url, seeded.api_key, processes=2) as server:
                        rows.run(
                            "send",
                            lambda: measure_send_concurrent(
                                server, big, sizes, backend, out, processes=2
                            ),
                        )
    if "burst" in wanted:
        rows.run("burst", lambda: measure_burst(backend, sizes, out))
    for measure in ("e2e", "workers", "memory", "pacing"):
        if measure in wanted:
            rows.run(measure, one_e2e(backend, sizes, measure, out))
    return list(rows), out


def _seed_info(seeded: seeding.Seeded) -> dict[str, Any]:
    info = asdict(seeded)
    for key in ("sample_patient_ids", "busy_patient_ids", "in_flight", "name_prefixes"):
        info[key] = len(info[key])
    return info


def print_table(rows: list[Row], machine: dict[str, Any]) -> None:
    table = Table(title="Clinic-group scale: each measure against its goal", show_lines=False)
    for col in ("backend", "measure", "what", "value", "goal", "ratio", "baseline", "met"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            r.backend,
            r.measure,
            r.what,
            r.value,
            r.goal,
            "" if r.ratio is None else f"{r.ratio:.2f}",
            r.baseline,
            "" if r.met is None else ("yes" if r.met else "[bold red]no[/]"),
        )
    console.print(table)
    console.print(
        f"CPUs {machine.get('cpu_count')}; load average before {machine.get('load_before')}, "
        f"after {machine.get('load_after')}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument("--only", nargs="+", choices=MEASURES, default=list(MEASURES))
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes")
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--long-texts", type=int, help="texts of the memory run")
    parser.add_argument("--patients", type=int, help="patients of the seeded history")
    parser.add_argument("--history", type=int, help="texts of the large seeded history")
    parser.add_argument("--json", default="bench/results/scale.json")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the server under each HTTP measure; print the top costs",
    )
    args = parser.parse_args(argv)
    sizes = TINY if args.tiny else QUICK if args.quick else Sizes()
    if args.long_texts:
        sizes = replace(sizes, long_texts=args.long_texts)
    if args.patients:
        sizes = replace(sizes, patients=args.patients)
    if args.history:
        sizes = replace(
            sizes, large_history=args.history, small_history=min(sizes.small_history, args.history)
        )
    wanted = set(args.only)
    if args.profile:
        global PROFILE_DIR
        PROFILE_DIR = Path(args.json).with_suffix("").parent / "scale-profiles"
    load_before = os.getloadavg()
    began = time.perf_counter()
    rows: list[Row] = []
    results = []
    for backend in args.backends:
        backend_rows, data = run_backend(backend, sizes, wanted)
        rows += backend_rows
        results.append(data)
    machine = machine_info()
    machine["load_before"] = [round(x, 2) for x in load_before]
    machine["load_after"] = [round(x, 2) for x in os.getloadavg()]
    machine["cpu_count"] = os.cpu_count()
    print_table(rows, machine)
    for data in results:
        for name, profile in data.get("profiles", {}).items():
            own = ", ".join(f"{frame} {pct}%" for frame, pct in profile["own"][:8])
            mine = ", ".join(f"{frame} {pct}%" for frame, pct in profile["inclusive"][:8])
            console.print(f"{data['backend']} {name}, own time: {own}")
            console.print(f"{data['backend']} {name}, inclusive (project code): {mine}")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "machine": machine,
                "sizes": asdict(sizes),
                "measures": sorted(wanted),
                "seconds": round(time.perf_counter() - began, 1),
                "rows": [asdict(r) for r in rows],
                "results": results,
            },
            indent=2,
            default=str,
        )
    )
    console.print(f"Wrote {out} in {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
