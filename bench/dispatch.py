"""Dispatch throughput: how fast queued texts are claimed, handed to the carrier and delivered.

Two measurements, each on SQLite and on PostgreSQL:

* ``claim``: the outbox query alone. 20,000 due texts are inserted, then ``claim_due`` is
  called in batches until none are left; texts claimed per second.
* ``end-to-end``: a real ``clinictext serve --no-dispatch`` (API, webhooks and the mounted
  carrier simulator) and N ``clinictext worker`` processes share the database; the texts
  are queued through the normal send path (checklist included, not timed), then the
  workers start. ``handed/s`` is texts accepted by the carrier per second, ``delivered/s``
  texts whose delivery callback was recorded per second. Senders allow 1,000 segments/s
  each, so pacing is not the limit: the machine is.

Run: ``python -m bench.dispatch [--texts 3000] [--workers 1 2] [--backends sqlite postgresql]``.
Everything runs on this machine's loopback; the simulator, the server and the workers share
its CPUs, so the numbers are the system's throughput on one box, not the provider's limit.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, insert, select
from tests.pg import free_port, migrated_postgres
from tests.support import seed_clinic, wait_http

from bench.http_clients import machine_info
from clinictext.dispatch.claims import claim_due
from clinictext.domain.checklist import Channel
from clinictext.services import sending
from clinictext.store.db import make_engine, session_factory, transaction, upgrade
from clinictext.store.models import Message

BIN = Path(sys.executable).with_name("clinictext")
SENDERS = ("+15005550006", "+14155550100", "+14155550101", "+14155550102")
console = Console()


@contextmanager
def database(backend: str) -> Iterator[str]:
    """A fresh, migrated database URL for one measurement."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            upgrade(url)
            yield url
        return
    with migrated_postgres("bench") as url:
        yield url


def seed_org(url: str, patients_n: int = 50) -> tuple[int, list[int], list[int]]:
    factory = session_factory(make_engine(url))
    seeded = seed_clinic(
        factory,
        senders=SENDERS,
        mps=1000,
        patient_count=patients_n,
        first_phone=14155552000,
        name="Bench Clinic",
    )
    factory.kw["bind"].dispose()
    return seeded.org_id, seeded.patient_ids, seeded.sender_ids


def bench_claim(backend: str, texts: int = 20_000, batch: int = 500) -> dict[str, Any]:
    with database(backend) as url:
        org_id, pids, sender_ids = seed_org(url)
        engine = make_engine(url)
        now = datetime.now(UTC)
        rows = [
            {
                "organization_id": org_id,
                "patient_id": pids[i % len(pids)],
                "sender_number_id": sender_ids[i % len(sender_ids)],
                "direction": "outbound",
                "kind": "manual",
                "channel": "clinic",
                "lane": i % 2,
                "body": f"text {i}",
                "encoding": "GSM-7",
                "segments": 1,
                "cost_micros": 0,
                "to_phone": "+14155552000",
                "from_phone": SENDERS[0],
                "status": "queued",
                "due_at": now,
                "attempts": 0,
                "created_by": "bench",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(texts)
        ]
        with engine.begin() as conn:
            conn.execute(insert(Message), rows)
        factory = session_factory(engine)
        claimed, rounds = 0, 0
        started = time.perf_counter()
        while claimed < texts:
            with transaction(factory) as s:
                got = claim_due(
                    s,
                    "bench",
                    now,
                    limit=batch,
                    lease=timedelta(seconds=60),
                    horizon=timedelta(days=1),
                )
            if not got:
                break
            claimed += len(got)
            rounds += 1
        elapsed = time.perf_counter() - started
        engine.dispose()
    return {
        "backend": backend,
        "texts": claimed,
        "batch": batch,
        "rounds": rounds,
        "seconds": round(elapsed, 3),
        "claims_per_s": round(claimed / elapsed),
    }


def _statuses(engine: Any) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(Message.status, func.count()).group_by(Message.status)).all()
    return {status: count for status, count in rows}


def bench_end_to_end(backend: str, texts: int, workers: int) -> dict[str, Any]:
    with database(backend) as url:
        org_id, pids, _ = seed_org(url)
        factory = session_factory(make_engine(url))
        with transaction(factory) as s:
            for i in range(texts):
                sending.send(
                    s, org_id, pids[i % len(pids)], Channel.CLINIC, f"Reminder {i}", actor="bench"
                )
        engine = factory.kw["bind"]
        port = free_port()
        env = {
            **os.environ,
            "CLINICTEXT_DATABASE_URL": url,
            "CLINICTEXT_LOG_LEVEL": "WARNING",
            "CLINICTEXT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        }
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
        server = subprocess.Popen(
            [str(BIN), "serve", "--no-dispatch", "--port", str(port)], **quiet
        )
        procs: list[subprocess.Popen[bytes]] = []
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")
            started = time.perf_counter()
            procs = [subprocess.Popen([str(BIN), "worker"], **quiet) for _ in range(workers)]
            handed_at = delivered_at = None
            deadline = started + 600
            while delivered_at is None and time.perf_counter() < deadline:
                counts = _statuses(engine)
                done = counts.get("delivered", 0)
                handed = done + counts.get("sent", 0)
                if handed_at is None and handed >= texts:
                    handed_at = time.perf_counter() - started
                if done >= texts:
                    delivered_at = time.perf_counter() - started
                time.sleep(0.05)
        finally:
            for p in [*procs, server]:
                p.send_signal(signal.SIGTERM)
            for p in [*procs, server]:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
            engine.dispose()
    if handed_at is None or delivered_at is None:
        raise RuntimeError(f"not all texts were delivered: {counts}")
    return {
        "backend": backend,
        "workers": workers,
        "texts": texts,
        "handed_s": round(handed_at, 2),
        "delivered_s": round(delivered_at, 2),
        "handed_per_s": round(texts / handed_at),
        "delivered_per_s": round(texts / delivered_at),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=3000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument("--json", default="bench/results/dispatch.json")
    args = parser.parse_args(argv)
    claims = [bench_claim(b) for b in args.backends]
    table = Table(title="Claiming due texts (outbox query, batches of 500)")
    for col in ("backend", "texts", "seconds", "claims/s"):
        table.add_column(col, justify="right")
    for r in claims:
        table.add_row(r["backend"], str(r["texts"]), f"{r['seconds']:.2f}", str(r["claims_per_s"]))
    console.print(table)
    runs = [
        bench_end_to_end(b, args.texts, w)
        for b in args.backends
        for w in args.workers
        if b == "postgresql" or w == 1
    ]
    table = Table(title=f"End to end through the carrier simulator ({args.texts} texts)")
    for col in ("backend", "workers", "handed s", "handed/s", "delivered s", "delivered/s"):
        table.add_column(col, justify="right")
    for r in runs:
        table.add_row(
            r["backend"],
            str(r["workers"]),
            f"{r['handed_s']:.1f}",
            str(r["handed_per_s"]),
            f"{r['delivered_s']:.1f}",
            str(r["delivered_per_s"]),
        )
    console.print(table)
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"machine": machine_info(), "claim": claims, "end_to_end": runs}, indent=2)
    )
    console.print(f"Wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
