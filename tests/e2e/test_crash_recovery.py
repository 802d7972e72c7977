"""Killing the worker with SIGKILL in the middle of sending: every text goes out exactly once.

A real ``clinictext serve`` (API, webhooks and the mounted carrier simulator, no
dispatcher) and a real ``clinictext worker`` process share a database. 2,000 texts are
queued (in bulk, with the rows the send path writes); the worker is killed with SIGKILL
several times while it is sending, and restarted. In the end every text is delivered, and
the carrier saw each exactly once. ``bench/crash.py`` is the long version: a standalone
carrier, repeated bodies, lost callbacks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from clinictext.domain.checklist import Channel
from clinictext.services import sending
from clinictext.store.db import make_engine, read_only, session_factory, transaction, upgrade
from clinictext.store.models import AuditEvent, Commlog, Message, MessageEvent
from tests.pg import free_port
from tests.support import queue_texts, seed_clinic, wait_http

TEXTS = 2000
PATIENTS = 20
KILL_WAIT = 60  # seconds for the worker to reach each kill point
DELIVERY_WAIT = 180  # seconds for every text to be delivered after the last kill
BIN = Path(sys.executable).with_name("clinictext")


def _env(db_url: str, port: int) -> dict[str, str]:
    return {
        **os.environ,
        "CLINICTEXT_DATABASE_URL": db_url,
        "CLINICTEXT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CLINICTEXT_DISPATCH_LEASE_SECONDS": "4",
        "CLINICTEXT_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def system(db_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    upgrade(db_url)
    factory = session_factory(make_engine(db_url))
    seeded = seed_clinic(
        factory, mps=250, patient_count=PATIENTS, first_phone=14155551000, name="Crash Clinic"
    )
    queue_texts(
        factory,
        seeded.org_id,
        [(seeded.patient_ids[n % PATIENTS], f"Reminder #{n}") for n in range(TEXTS)],
    )
    port = free_port()
    env = _env(db_url, port)
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [str(BIN), "serve", "--no-dispatch", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz")
        yield {"factory": factory, "env": env, "port": port, "tmp": tmp_path}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        factory.kw["bind"].dispose()


def _counts(factory: Any) -> dict[str, int]:
    # Read-only: on SQLite a polling read must not take the write lock the worker needs.
    with read_only(factory.kw["bind"]).connect() as conn:
        rows = conn.execute(select(Message.status, func.count()).group_by(Message.status)).all()
    return {status: count for status, count in rows}


def _not_delivered(factory: Any, limit: int = 5) -> dict[str, Any]:
    """The status counts and the history of a few texts not delivered: a failure's evidence."""
    with read_only(factory.kw["bind"]).connect() as conn:
        ids = list(
            conn.scalars(
                select(Message.id).where(Message.status != "delivered").order_by(Message.id)
            ).all()
        )
        events = conn.execute(
            select(MessageEvent.message_id, MessageEvent.status, MessageEvent.detail)
            .where(MessageEvent.message_id.in_(ids[:limit]))
            .order_by(MessageEvent.message_id, MessageEvent.id)
        ).all()
    histories: dict[int, list[str]] = {}
    for mid, status, detail in events:
        histories.setdefault(mid, []).append(status + (f" ({detail})" if detail else ""))
    return {"statuses": _counts(factory), "not_delivered": len(ids), "histories": histories}


def _start_worker(system: dict[str, Any], n: int) -> subprocess.Popen[bytes]:
    log = (system["tmp"] / f"worker{n}.log").open("w")
    return subprocess.Popen(
        [str(BIN), "worker"], env=system["env"], stdout=log, stderr=subprocess.STDOUT
    )


def _handed_over(counts: dict[str, int]) -> int:
    return sum(counts.get(s, 0) for s in ("sent", "delivered", "undelivered", "failed"))


def _rows_of(factory: Any, message_id: int) -> dict[str, dict[str, Any]]:
    """Every column but ids of a message, its first event, its commlog and its audit entry."""
    found = {}
    with transaction(factory) as s:
        for model, query in (
            (Message, select(Message).where(Message.id == message_id)),
            (MessageEvent, select(MessageEvent).where(MessageEvent.message_id == message_id)),
            (Commlog, select(Commlog).where(Commlog.message_id == message_id)),
            (
                AuditEvent,
                select(AuditEvent).where(
                    AuditEvent.entity == "message", AuditEvent.entity_id == message_id
                ),
            ),
        ):
            row = s.scalars(query).one()
            found[model.__name__] = {
                col.key: getattr(row, col.key)
                for col in model.__table__.columns
                if col.key not in ("id", "message_id", "entity_id")
            }
    return found


def test_bulk_queued_texts_are_the_rows_the_send_path_writes(db_url: str) -> None:
    upgrade(db_url)
    factory = session_factory(make_engine(db_url))
    try:
        seeded = seed_clinic(factory, patient_count=2, name="Bulk Clinic")
        pid = seeded.patient_ids[1]
        body = "Your cleaning is at 3pm, see you then \N{SMILING FACE WITH SMILING EYES}"
        with transaction(factory) as s:
            sent = sending.send(s, seeded.org_id, pid, Channel.CLINIC, body, actor="t")
            now, sent_id = sent.created_at, sent.id
        [bulk_id] = queue_texts(factory, seeded.org_id, [(pid, body)], now=now)
        assert bulk_id != sent_id
        assert _rows_of(factory, bulk_id) == _rows_of(factory, sent_id)
        ids = queue_texts(factory, seeded.org_id, [(pid, f"n{i}") for i in range(3)])
        with transaction(factory) as s:
            rows = s.execute(select(Message.id, Message.body).where(Message.id.in_(ids)))
            by_id = {mid: text for mid, text in rows}
        assert [by_id[i] for i in ids] == ["n0", "n1", "n2"]  # ids come back in order
    finally:
        factory.kw["bind"].dispose()


# Setup (bulk seeding, serve starting) takes seconds; the sending, three SIGKILLs and the
# reconciliation of each (lease 4 s) take 40-60 s on a loaded two-core machine. The
# waits inside (3 x KILL_WAIT + DELIVERY_WAIT) fail first, with the evidence.
@pytest.mark.timeout(3 * KILL_WAIT + DELIVERY_WAIT + 60)
def test_sigkilled_worker_never_duplicates_or_loses_a_text(system: dict[str, Any]) -> None:
    factory = system["factory"]
    kills = 0
    for n, kill_after in enumerate((150, 700, 1300)):
        worker = _start_worker(system, n)
        deadline = time.monotonic() + KILL_WAIT
        while _handed_over(_counts(factory)) < kill_after:
            assert worker.poll() is None, "the worker died by itself"
            assert time.monotonic() < deadline, _counts(factory)
            time.sleep(0.05)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        kills += 1
    in_flight_after_kill = _counts(factory).get("sending", 0)
    worker = _start_worker(system, kills)
    try:
        deadline = time.monotonic() + DELIVERY_WAIT
        while _counts(factory).get("delivered", 0) < TEXTS:
            assert worker.poll() is None, "the restarted worker died"
            assert time.monotonic() < deadline, _not_delivered(factory)
            time.sleep(0.5)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert _counts(factory) == {"delivered": TEXTS}, _not_delivered(factory)
    url = f"http://127.0.0.1:{system['port']}/simulator/_control/messages?direction=outbound-api"
    with urllib.request.urlopen(url, timeout=30) as resp:
        carried = json.load(resp)
    bodies = [m["body"] for m in carried]
    assert len(bodies) == TEXTS, f"the carrier saw {len(bodies)} texts for {TEXTS} queued"
    assert sorted(bodies) == sorted(f"Reminder #{n}" for n in range(TEXTS))
    with transaction(factory) as s:
        provider_ids = list(s.scalars(select(Message.provider_id)))
    assert len(set(provider_ids)) == TEXTS
    assert {m["sid"] for m in carried} == set(provider_ids)
    print(f"kills={kills}, texts left sending by the last kill={in_flight_after_kill}")
