"""Many writes at once, through the real app, end committed exactly once: none answered
500 or 503, none lost, none written twice, while another connection writes too. And the
one way a write may still be refused, a wait for SQLite's write lock that runs out, is a
clear 503 with Retry-After and nothing written.

What used to go wrong: a pool of 15 connections for 40 request threads ran out (503), and
SQLite's busy handler let some writers in again and again while others waited out the
whole busy timeout (503) or seemed to hang.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from clinictext.api.app import create_app
from clinictext.config import Settings
from clinictext.services import orgs
from clinictext.store import db
from clinictext.store.db import transaction
from clinictext.store.models import Organization, Patient
from tests.conftest import Org
from tests.e2e.harness import wait_until

# More than anyio's 40 request threads and more than the pool's steady size, so requests
# queue for threads, for connections and (SQLite) for the write lock all at once.
IN_FLIGHT = 50
WRITES = 150


@pytest.mark.timeout(300)
def test_concurrent_writes_through_the_app_are_each_committed_exactly_once(
    ready_org: Org, factory: sessionmaker[Session]
) -> None:
    done = threading.Event()
    other_commits: list[int] = []

    def other_writer() -> None:
        # Another connection (its own engine) writing while the requests do.
        i = 0
        while not done.is_set():
            with transaction(factory) as session:
                orgs.create_org(session, f"Other {i}", actor="test")
            other_commits.append(i)
            i += 1

    def create(i: int) -> tuple[int, str]:
        body = {"first_name": f"P{i}", "last_name": "Burst", "external_id": f"BURST-{i}"}
        answer = ready_org.post("/patients", body)
        return answer.status_code, answer.text

    writer = threading.Thread(target=other_writer)
    writer.start()
    try:
        with ThreadPoolExecutor(max_workers=IN_FLIGHT) as pool:
            answers = list(pool.map(create, range(WRITES)))
    finally:
        done.set()
        writer.join(timeout=60)
    assert not writer.is_alive()

    refused = [(code, text) for code, text in answers if code != 201]
    assert refused == []
    with factory() as session:
        ids = session.scalars(
            select(Patient.external_id).where(Patient.organization_id == ready_org.id)
        ).all()
        others = session.scalar(select(func.count()).where(Organization.name.like("Other %")))
    assert sorted(ids) == sorted(f"BURST-{i}" for i in range(WRITES))
    assert others == len(other_commits) > 0


def test_writers_of_one_sqlite_file_take_turns_in_the_order_they_came() -> None:
    turn = db._WriteTurn()
    assert turn.acquire(timeout=1)
    order: list[int] = []

    def wait_for_turn(i: int) -> None:
        assert turn.acquire(timeout=60)
        order.append(i)
        turn.release()

    threads = []
    for i in range(5):
        thread = threading.Thread(target=wait_for_turn, args=(i,))
        thread.start()
        threads.append(thread)
        wait_until(lambda n=i + 1: len(turn._waiters) == n, 30, f"{i + 1} writers waiting")
    turn.release()
    for thread in threads:
        thread.join(timeout=60)
    assert order == [0, 1, 2, 3, 4]
    assert turn.acquire(timeout=1)  # the last one gave the turn back


def test_a_writer_that_waits_too_long_gives_up_without_taking_the_turn() -> None:
    turn = db._WriteTurn()
    assert turn.acquire(timeout=1)
    assert not turn.acquire(timeout=0.05)
    turn.release()
    assert turn.acquire(timeout=1)


def test_a_write_that_cannot_get_the_sqlite_write_lock_in_time_is_503_with_retry_after(
    sqlite_template: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    # SQLite only: PostgreSQL writers lock rows, not the whole database.
    path = tmp_path / "clinictext.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    monkeypatch.setattr(db, "BUSY_TIMEOUT_SECONDS", 0.2)
    engine = db.make_engine(url)
    factory = db.session_factory(engine)
    with transaction(factory) as session:
        org = orgs.create_org(session, "Clinic", actor="test")
        key = orgs.create_api_key(session, org.id, actor="test").key
    auth = {"Authorization": f"Bearer {key}"}
    app = create_app(Settings(database_url=url), simulator=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        with transaction(factory) as holder:  # holds the write lock until the block ends
            orgs.create_org(holder, "Holder", actor="test")
            holder.flush()
            answer = client.post(
                "/api/v1/patients", json={"first_name": "Late", "last_name": "W"}, headers=auth
            )
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "database_unavailable"
        assert int(answer.headers["Retry-After"]) > 0
        assert client.get("/api/v1/patients", headers=auth).json() == []
    engine.dispose()


class _Pauses:
    """Stands in for ``time`` in ``store.db``: records each pause instead of sleeping, and
    lets the other process's transaction end at the ``release_at``-th pause."""

    def __init__(self, holder: sqlite3.Connection, release_at: int) -> None:
        self.holder, self.release_at = holder, release_at
        self.pauses: list[float] = []
        self.monotonic = time.monotonic

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        if len(self.pauses) == self.release_at:
            self.holder.execute("COMMIT")


def _file_engine(sqlite_template: Path, tmp_path: Path) -> tuple[str, sessionmaker[Session]]:
    path = tmp_path / "clinictext.db"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    return str(path), db.session_factory(db.make_engine(url))


def _busy_timeout(session: Session) -> int:
    return int(session.connection().exec_driver_sql("PRAGMA busy_timeout").scalar_one())


@pytest.mark.timeout(60)
def test_a_writer_waiting_for_another_process_asks_again_at_least_every_millisecond(
    sqlite_template: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    # SQLite's own busy handler sleeps up to 100 ms between tries, so a writer that found
    # the lock taken waited while the other process took it again and again.
    path, factory = _file_engine(sqlite_template, tmp_path)
    other = sqlite3.connect(path, isolation_level=None)  # another process's connection
    other.execute("BEGIN IMMEDIATE")
    pauses = _Pauses(other, release_at=7)
    monkeypatch.setattr(db, "time", pauses)
    with transaction(factory) as session:
        orgs.create_org(session, "Waited", actor="test")
        assert _busy_timeout(session) == db.BUSY_TIMEOUT_SECONDS * 1000  # its own again
    assert pauses.pauses == [0.0001, 0.0002, 0.0004, 0.0008, 0.001, 0.001, 0.001]
    with transaction(factory) as session:
        names = session.scalars(select(Organization.name)).all()
    assert "Waited" in names
    other.close()
    factory.kw["bind"].dispose()


@pytest.mark.timeout(60)
def test_a_writer_waiting_for_another_process_too_long_is_refused_and_can_write_later(
    sqlite_template: Path, tmp_path: Path, monkeypatch: Any
) -> None:
    path, factory = _file_engine(sqlite_template, tmp_path)
    monkeypatch.setattr(db, "BUSY_TIMEOUT_SECONDS", 0.2)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with (
        pytest.raises(OperationalError, match="database is locked"),
        transaction(factory) as session,
    ):
        orgs.create_org(session, "Refused", actor="test")
    other.execute("COMMIT")
    # The turn was given back and the connection's own busy timeout restored.
    with transaction(factory) as session:
        orgs.create_org(session, "Later", actor="test")
        assert _busy_timeout(session) == 200
    with transaction(factory) as session:
        names = session.scalars(select(Organization.name)).all()
    assert "Later" in names and "Refused" not in names
    other.close()
    factory.kw["bind"].dispose()
