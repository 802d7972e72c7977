"""SQLite's write-ahead log is copied back by a thread of its own, not inside commits.

A commit that makes the log reach SQLite's mark copies it back itself, and waits for the
copy: under a burst of writes that was the slowest hundredth of webhook answers. The
checkpoint thread (``store.checkpoints``) copies it in the background instead, so the
log starts again from its beginning and stays short; SQLite's own checkpoint is only the
backstop.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from clinictext.store.checkpoints import AUTOCHECKPOINT_PAGES, checkpointer
from clinictext.store.db import make_engine
from tests.e2e.harness import wait_until

pytestmark = pytest.mark.timeout(120)

PAGE = 4096
ROUNDS = 40
ROW = "x" * 200_000  # about 50 pages a commit


def wait_for_rounds(after: int, timeout: float = 30) -> None:
    """Until the checkpoint thread has run a whole round that began after ``after``."""
    wait_until(
        lambda: checkpointer.rounds > after + 1,  # a round under way may not see the write
        timeout,
        "a round of the checkpoint thread",
        lambda: checkpointer.rounds,
    )


def test_the_log_is_copied_back_by_the_thread_and_stays_short(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            mark = conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
            conn.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT)"))
        assert mark == AUTOCHECKPOINT_PAGES  # the backstop, far above what a round writes
        wal = Path(f"{db}-wal")
        largest = 0
        for n in range(ROUNDS):
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO blobs (body) VALUES (:b)"), {"b": ROW + str(n)})
            largest = max(largest, wal.stat().st_size)
            wait_for_rounds(checkpointer.rounds)
        written = ROUNDS * len(ROW) // PAGE
        # Every commit's pages were copied back before the next began, so the log started
        # again each time: it never held more than a few commits' worth. Without the
        # thread it would hold all of them (below the backstop's mark).
        assert written > 1000 and largest < 200 * PAGE, (written, largest)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM blobs")).scalar_one() == ROUNDS
    finally:
        engine.dispose()


def test_a_disposed_engine_is_left_alone_and_its_log_folded_in(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    engine = make_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        conn.execute(text("INSERT INTO t DEFAULT VALUES"))
    wait_for_rounds(checkpointer.rounds)
    engine.dispose()
    assert engine not in checkpointer._files and engine not in checkpointer._connections
    # Every connection on the file is closed, so the last one folded the log in: the file
    # alone holds the data (copying it, as the tests' template does, copies everything).
    assert not Path(f"{db}-wal").exists()


def test_an_idle_engine_keeps_no_connection_of_the_thread(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        wait_for_rounds(checkpointer.rounds)
        # Nothing written since: the next round finds the log as it left it and lets go.
        wait_for_rounds(checkpointer.rounds)
        assert engine not in checkpointer._connections
        before = checkpointer._seen[engine]
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t DEFAULT VALUES"))
        wait_for_rounds(checkpointer.rounds)
        assert checkpointer._seen[engine] != before  # written again: checkpointed again
    finally:
        engine.dispose()
