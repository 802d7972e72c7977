"""Staff pages under load: how long the server takes to build the inbox, the Lead
Dashboard, the connector page and a conversation of 500 messages.

A real ``clinictext serve --no-dispatch`` runs on a seeded database (SQLite and
PostgreSQL): ``--patients`` patients with two texts each (half still pending, as during an
outage, so the connector page has many to group), a quarter of them leads with a reply, and
one patient with a ``--conversation``-text history (delivered, but for five failed and two
pending). A staff user's session is opened through the services, and each page is fetched
``--repeats`` times after a warm-up. The conversation page shows the latest 100 texts
(older ones load on demand); its "all shown" row is that whole history in one fragment.
The time reported is the server's own (``Server-Timing: app;dur=``, from the request
reaching the app to the page being built), so the client's share of this shared machine
does not count; the client's wall time is shown beside it. The goal: under 100 ms at p95
for the inbox and the conversation.

Run: ``python -m bench.pages [--patients 2000] [--conversation 500] [--repeats 40]
[--backends sqlite postgresql]``; the table is printed and the JSON written to
``bench/results/pages.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import text, update
from tests.pg import free_port, migrated_postgres
from tests.support import queue_texts, seed_clinic, wait_http

from bench.http_clients import machine_info
from clinictext.domain.leads import LeadStage
from clinictext.providers.base import InboundText
from clinictext.services import inbound, leads, users, web_sessions
from clinictext.services.clock import utcnow
from clinictext.store.db import make_engine, session_factory, transaction, upgrade
from clinictext.store.models import Message, User

BIN = Path(sys.executable).with_name("clinictext")
SENDER = "+15005550006"
FIRST_PHONE = 14155570000
GOAL_MS = 100.0
console = Console(width=150)


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'pages.db'}"
        upgrade(url)
        yield url
        return
    with migrated_postgres("pages") as url:
        yield url


def seed(url: str, patients: int, conversation: int) -> dict[str, Any]:
    """An organization with ``patients`` patients, a quarter of them leads, two texts and
    (for a quarter) a reply each, and one patient with a ``conversation``-message history."""
    engine = make_engine(url)
    factory = session_factory(engine)
    started = time.perf_counter()
    clinic = seed_clinic(
        factory, senders=(SENDER,), patient_count=patients, first_phone=FIRST_PHONE, name="Bench"
    )
    ids = clinic.patient_ids
    big = ids[0]
    stages = list(LeadStage)
    with transaction(factory) as s:
        for n, pid in enumerate(ids[: max(1, patients // 4)]):
            leads.set_stage(
                s,
                clinic.org_id,
                pid,
                stages[n % len(stages)],
                actor="bench",
                reason="Chose another clinic"
                if stages[n % len(stages)] is LeadStage.CLOSED_LOST
                else None,
            )
    texts = [
        (pid, f"Hello, this is the clinic about visit {n}.")
        for n, pid in enumerate(ids[1:])
        for _ in range(2)
    ]
    texts += [(big, f"Message {n} of a long conversation.") for n in range(conversation // 2)]
    message_ids = queue_texts(factory, clinic.org_id, texts)
    others, long_history = message_ids[: -(conversation // 2)], message_ids[-(conversation // 2) :]
    with transaction(factory) as s:
        # The other patients: half delivered, half still pending (as during an outage, so
        # the connector page has many to group). The long conversation is years of texts:
        # delivered, but for a few that failed and two still pending.
        s.execute(update(Message).where(Message.id.in_(others[::2])).values(status="delivered"))
        s.execute(
            update(Message).where(Message.id.in_(long_history[:-7])).values(status="delivered")
        )
        s.execute(
            update(Message)
            .where(Message.id.in_(long_history[-7:-2]))
            .values(status="undelivered", error_code="30003")
        )
    now = utcnow()
    with transaction(factory) as s:
        for n in range(conversation - conversation // 2):
            inbound.receive(
                s,
                InboundText(f"SMbenchbig{n:06d}", f"+{FIRST_PHONE}", SENDER, f"Reply {n}", 1),
                now,
            )
        for pid_index in range(1, max(2, patients // 4)):
            inbound.receive(
                s,
                InboundText(
                    f"SMbench{pid_index:08d}",
                    f"+{FIRST_PHONE + pid_index}",
                    SENDER,
                    "Thanks, see you then",
                    1,
                ),
                now,
            )
        user = users.create_user(
            s, clinic.org_id, "bench@clinic.example", "staff", "bench-password", "bench"
        )
        s.flush()
        token = web_sessions.start(s, s.get(User, user.id) or user, now)
    if engine.dialect.name == "postgresql":
        # Statistics as a database in use has them (autovacuum would gather them soon).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE"))
    engine.dispose()
    return {
        "org_id": clinic.org_id,
        "conversation_patient": big,
        "token": token,
        "seed_seconds": round(time.perf_counter() - started, 1),
    }


@contextmanager
def serving(url: str, workdir: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "CLINICTEXT_DATABASE_URL": url,
        "CLINICTEXT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CLINICTEXT_PROVIDER": "simulator",
        "CLINICTEXT_LOG_LEVEL": "warning",
        "CLINICTEXT_SESSION_IDLE_MINUTES": "600",
    }
    log = (workdir / "serve.log").open("wb")
    process = subprocess.Popen(
        [str(BIN), "serve", "--no-dispatch", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/healthz", timeout=60)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def measure(base: str, token: str, path: str, repeats: int, warmup: int) -> dict[str, Any]:
    server_ms: list[float] = []
    client_ms: list[float] = []
    with httpx.Client(base_url=base, cookies={"clinictext_session": token}, timeout=60) as http:
        for n in range(warmup + repeats):
            started = time.perf_counter()
            answer = http.get(path)
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status_code != 200:
                raise RuntimeError(f"GET {path} answered {answer.status_code}: {answer.text[:300]}")
            timing = re.search(r"app;dur=([\d.]+)", answer.headers.get("server-timing", ""))
            if timing is None:
                raise RuntimeError(f"GET {path} has no Server-Timing header")
            if n >= warmup:
                server_ms.append(float(timing.group(1)))
                client_ms.append(elapsed)
            size = len(answer.content)
    server_ms.sort()
    return {
        "path": path,
        "bytes": size,
        "server_p50_ms": round(statistics.median(server_ms), 1),
        "server_p95_ms": round(server_ms[int(len(server_ms) * 0.95) - 1], 1),
        "server_max_ms": round(server_ms[-1], 1),
        "client_p50_ms": round(statistics.median(client_ms), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--conversation", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument(
        "--backends", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument("--json", type=Path, default=Path("bench/results/pages.json"))
    args = parser.parse_args(argv)

    rows: list[dict[str, Any]] = []
    for backend in args.backends:
        with tempfile.TemporaryDirectory() as tmp, database(backend, Path(tmp)) as url:
            seeded = seed(url, args.patients, args.conversation)
            console.print(f"{backend}: seeded in {seeded['seed_seconds']} s")
            with serving(url, Path(tmp)) as base:
                conversation = f"/patients/{seeded['conversation_patient']}"
                pages = {
                    "inbox": "/inbox",
                    "inbox, unread": "/inbox?filter=unread",
                    "lead dashboard": "/leads",
                    f"conversation ({args.conversation} msgs, page: latest 100)": conversation,
                    f"conversation, all {args.conversation} shown": (
                        f"{conversation}/live/conversation?show={args.conversation}"
                    ),
                    "connector": "/connector",
                }
                for name, path in pages.items():
                    result = measure(base, seeded["token"], path, args.repeats, args.warmup)
                    rows.append({"backend": backend, "page": name, **result})

    table = Table(
        title=f"Page build time on the server ({args.patients} patients, "
        f"goal p95 < {GOAL_MS:.0f} ms)"
    )
    for column in (
        "backend",
        "page",
        "KB",
        "server p50 ms",
        "server p95 ms",
        "server max ms",
        "client p50 ms",
    ):
        table.add_column(column, justify="left" if column in ("backend", "page") else "right")
    for row in rows:
        table.add_row(
            row["backend"],
            row["page"],
            f"{row['bytes'] / 1024:.0f}",
            str(row["server_p50_ms"]),
            str(row["server_p95_ms"]),
            str(row["server_max_ms"]),
            str(row["client_p50_ms"]),
        )
    console.print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "machine": machine_info(),
                "args": {k: str(v) for k, v in vars(args).items()},
                "rows": rows,
            },
            indent=2,
        )
    )
    console.print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
