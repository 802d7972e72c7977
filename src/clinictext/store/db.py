"""Engine, sessions and migrations for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Select, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")

# Every wait on the database is bounded: for SQLite's write lock, and for a pooled
# connection. A request that cannot get either in time is answered 503, never left hanging.
BUSY_TIMEOUT_SECONDS = 10
POOL_TIMEOUT_SECONDS = 10
# Execution option of engines whose transactions only read (see ``read_only``).
_READ_ONLY = "clinictext_read_only"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and enforced foreign keys."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_SECONDS},
            pool_pre_ping=False,
            pool_timeout=POOL_TIMEOUT_SECONDS,
            hide_parameters=True,  # a database error's message must not carry patient data
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, decide where transactions begin (see below).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_SECONDS * 1000}")
            cur.close()

        # A deferred transaction that reads and then writes can fail at once with
        # "database is locked" when another writer got in between; taking the write lock
        # at BEGIN makes it wait its turn (busy_timeout) instead. Transactions that only
        # read (``read_only``) take no lock at all: WAL readers never wait for the writer.
        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            read_only = conn.get_execution_options().get(_READ_ONLY, False)
            conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        pool_timeout=POOL_TIMEOUT_SECONDS,
        hide_parameters=True,  # a database error's message must not carry patient data
    )


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
    return stmt.with_for_update().execution_options(populate_existing=True)


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
