"""Killing the worker with SIGKILL in the middle of sending: every text goes out exactly once.

A real ``clinictext serve`` (API, webhooks and the mounted carrier simulator, no
dispatcher) and a real ``clinictext worker`` process share a database. 2,000 texts are
queued; the worker is killed with SIGKILL several times while it is sending, and
restarted. In the end every text is delivered, and the carrier saw each exactly once.
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
from clinictext.store.db import make_engine, session_factory, transaction, upgrade
from clinictext.store.models import Message
from tests.pg import free_port
from tests.support import seed_clinic, wait_http

TEXTS = 2000
PATIENTS = 20
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
    with transaction(factory) as s:
        for n in range(TEXTS):
            pid = seeded.patient_ids[n % PATIENTS]
            sending.send(s, seeded.org_id, pid, Channel.CLINIC, f"Reminder #{n}", actor="t")
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
    with transaction(factory) as s:
        rows = s.execute(select(Message.status, func.count()).group_by(Message.status)).all()
    return {status: count for status, count in rows}


def _start_worker(system: dict[str, Any], n: int) -> subprocess.Popen[bytes]:
    log = (system["tmp"] / f"worker{n}.log").open("w")
    return subprocess.Popen(
        [str(BIN), "worker"], env=system["env"], stdout=log, stderr=subprocess.STDOUT
    )


def _handed_over(counts: dict[str, int]) -> int:
    return sum(counts.get(s, 0) for s in ("sent", "delivered", "undelivered", "failed"))


def test_sigkilled_worker_never_duplicates_or_loses_a_text(system: dict[str, Any]) -> None:
    factory = system["factory"]
    kills = 0
    for n, kill_after in enumerate((150, 700, 1300)):
        worker = _start_worker(system, n)
        deadline = time.monotonic() + 120
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
        deadline = time.monotonic() + 240
        while _counts(factory).get("delivered", 0) < TEXTS:
            assert worker.poll() is None, "the restarted worker died"
            assert time.monotonic() < deadline, _counts(factory)
            time.sleep(0.5)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert _counts(factory) == {"delivered": TEXTS}
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
