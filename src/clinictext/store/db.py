"""Engine, sessions and migrations for SQLite (embedded default) and PostgreSQL.

SQLite allows one writer at a time. Its own wait for the write lock (the busy handler)
polls with growing sleeps and serves no one in particular, so under a burst of writes some
requests waited out the whole busy timeout and were answered 503 while others got in again
and again. Writers in one process therefore queue for their turn here, first come first
served (``_WriteTurn``), before they ask SQLite for the lock; the busy timeout is left for
other processes (a ``worker``, the CLI) and bounds the wait in the queue as well.

Between processes the wait is SQLite's, but not its busy handler's: that handler sleeps 1,
2, 5, 10, 15, 20 then 25 to 100 ms between tries, so a writer that found the lock taken
twice waits tens of milliseconds each time while the other process, writing in short
transactions one after another, takes the lock again in between. Under load that starved
the server's webhook writer for up to 0.8 s at a time behind a worker. ``BEGIN IMMEDIATE``
is therefore tried again every fraction of a millisecond (``_begin_immediate``), within
the same bound; every other statement keeps SQLite's own handler.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Engine,
    Select,
    create_engine,
    event,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from clinictext.store.checkpoints import AUTOCHECKPOINT_PAGES, checkpointer

MIGRATIONS = Path(__file__).with_name("migrations")

# Every wait on the database is bounded: for SQLite's write lock, and for a pooled
# connection. A request that cannot get either in time is answered 503, never left hanging.
BUSY_TIMEOUT_SECONDS = 10
# How often a writer asks again for SQLite's write lock held by another process: from a
# tenth of a millisecond, doubling up to one millisecond.
_FIRST_PAUSE = 0.0001
_LONGEST_PAUSE = 0.001
POOL_TIMEOUT_SECONDS = 10
# Connections each process keeps open (opened when first needed). A request thread holds at
# most one connection at a time, and there are at most 40 of them (``request_threads``), so
# a pool this large never makes a request wait for a connection, and connections are reused
# rather than opened per request (opening a SQLite connection and setting its pragmas cost
# more than a small request itself). A PostgreSQL connection is a server process: a smaller
# pool, with overflow up to the threads.
SQLITE_POOL_SIZE = 40
POSTGRESQL_POOL_SIZE = 20
POSTGRESQL_MAX_OVERFLOW = 20
# Execution option of engines whose transactions only read (see ``read_only``).
_READ_ONLY = "clinictext_read_only"


class _WriteTurn:
    """First come, first served turns at writing one SQLite file, within this process.

    The holder hands its turn straight to the longest waiter, so no writer can be overtaken
    while it waits; a waiter gives up after ``timeout`` seconds.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._waiters: deque[threading.Lock] = deque()
        self._held = False

    def acquire(self, timeout: float) -> bool:
        with self._guard:
            if not self._held and not self._waiters:
                self._held = True
                return True
            mine = threading.Lock()
            mine.acquire()
            self._waiters.append(mine)
        if mine.acquire(timeout=timeout):
            return True
        with self._guard:
            if mine in self._waiters:
                self._waiters.remove(mine)
                return False
        return True  # handed over between the timeout and the check: the turn is ours

    def release(self) -> None:
        with self._guard:
            if self._waiters:
                self._waiters.popleft().release()  # the turn passes on, still held
            else:
                self._held = False


_turns: dict[str, _WriteTurn] = {}
_turns_guard = threading.Lock()


def _turn_for(path: str) -> _WriteTurn:
    """The one queue of writers to the file at ``path`` (shared by every engine on it)."""
    key = str(Path(path).resolve())
    with _turns_guard:
        return _turns.setdefault(key, _WriteTurn())


class _TurnTakingConnection(sqlite3.Connection):
    """A pysqlite connection that gives up its writing turn when its transaction ends."""

    turn: _WriteTurn | None = None
    holds_turn = False

    def take_turn(self) -> None:
        if self.turn is None or self.holds_turn:
            return
        if not self.turn.acquire(BUSY_TIMEOUT_SECONDS):
            # What SQLite itself says when its busy timeout runs out, raised as SQLAlchemy
            # raises it (a database error answered 503, not an unexpected one).
            locked = sqlite3.OperationalError("database is locked")
            raise OperationalError("BEGIN IMMEDIATE", None, locked)
        self.holds_turn = True

    def give_up_turn(self) -> None:
        if self.holds_turn and self.turn is not None:
            self.holds_turn = False
            self.turn.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.give_up_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.give_up_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.give_up_turn()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and enforced foreign keys."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        in_memory = database in ("", ":memory:") or parsed.query.get("mode") == "memory"
        turn = None if in_memory else _turn_for(database)
        engine = create_engine(
            url,
            connect_args={
                "check_same_thread": False,
                "timeout": BUSY_TIMEOUT_SECONDS,
                "factory": _TurnTakingConnection,
            },
            pool_pre_ping=False,
            pool_size=SQLITE_POOL_SIZE,
            max_overflow=10,
            pool_timeout=POOL_TIMEOUT_SECONDS,
            hide_parameters=True,  # a database error's message must not carry patient data
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, decide where transactions begin (see below).
            dbapi_conn.isolation_level = None
            dbapi_conn.turn = turn
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            # The backstop behind the checkpoint thread (``store.checkpoints``): a commit copies
            # the log back itself only if the log has outgrown the thread.
            cur.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
            cur.close()

        if not in_memory:
            checkpointer.add(engine, database)
            event.listen(engine, "engine_disposed", checkpointer.discard)

        # A deferred transaction that reads and then writes can fail at once with
        # "database is locked" when another writer got in between; taking the write lock
        # at BEGIN makes it wait its turn (busy_timeout) instead. Transactions that only
        # read (``read_only``) take no lock at all: WAL readers never wait for the writer.
        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            if conn.get_execution_options().get(_READ_ONLY, False):
                conn.exec_driver_sql("BEGIN")
                return
            dbapi_conn = conn.connection.dbapi_connection
            dbapi_conn.take_turn()
            try:
                _begin_immediate(dbapi_conn)
            except BaseException:
                dbapi_conn.give_up_turn()
                raise

        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=POSTGRESQL_POOL_SIZE,
        max_overflow=POSTGRESQL_MAX_OVERFLOW,
        pool_timeout=POOL_TIMEOUT_SECONDS,
        hide_parameters=True,  # a database error's message must not carry patient data
    )


def _begin_immediate(dbapi_conn: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE``, tried again in short pauses while another process writes, for
    at most ``BUSY_TIMEOUT_SECONDS`` (see the module docstring)."""
    dbapi_conn.execute("PRAGMA busy_timeout=0")
    try:
        pause, deadline = _FIRST_PAUSE, None
        while True:
            try:
                dbapi_conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as err:
                now = time.monotonic()
                deadline = deadline or now + BUSY_TIMEOUT_SECONDS
                if err.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or now >= deadline:
                    # Raised as SQLAlchemy raises a database error (answered 503).
                    raise OperationalError("BEGIN IMMEDIATE", None, err) from None
            time.sleep(pause)
            pause = min(pause * 2, _LONGEST_PAUSE)
    finally:
        dbapi_conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")


def read_only(engine: Engine) -> Engine:
    """The same engine and pool, for transactions that only read.

    On SQLite they begin deferred, so they neither take nor wait for the write lock; a
    write inside one may fail at once with "database is locked" (answered 503).
    """
    return engine.execution_options(**{_READ_ONLY: True})


def for_update(session: Session, stmt: Select[Any]) -> Select[Any]:
    """``stmt``, locking the rows it reads until the transaction ends, and reading them
    afresh even if the session holds them already.

    On PostgreSQL two transactions may read the same message and both write it; the lock
    makes the second wait and see the first's change. A SQLite transaction that writes
    holds the one write lock from its BEGIN IMMEDIATE, so nothing more is needed there.
    """
    if session.get_bind().dialect.name != "postgresql":
        return stmt
    return _locked(stmt)


def _locked(stmt: Select[Any]) -> Select[Any]:
    return stmt.with_for_update().execution_options(populate_existing=True)


class LockingSelect:
    """A statement built once, with its ``for_update`` form built once too: a path that
    runs many times a second reads with ``on(session)`` instead of building the statement
    (and its cache key) each time, which costs more than running it."""

    def __init__(self, stmt: Select[Any]) -> None:
        self.plain = stmt
        self.locked = _locked(stmt)

    def on(self, session: Session) -> Select[Any]:
        return self.locked if session.get_bind().dialect.name == "postgresql" else self.plain


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commits when the block ends normally, rolls back otherwise."""
    with factory() as session, session.begin():
        yield session


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (idempotent)."""
    command.upgrade(alembic_config(url), revision)
