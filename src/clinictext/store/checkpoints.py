"""SQLite checkpoints from a thread: the write-ahead log of every SQLite file this process
has an engine on is copied back into the database file every ``CHECKPOINT_EVERY`` seconds.

SQLite does it itself inside the commit that makes the log reach its mark: that writer
waits the ~10-30 ms the copy takes (and its fsync), and under a burst of inbound
webhooks those waits were the slowest hundredth of answers (p99 58-73 ms against
38-42 ms with this thread). A checkpoint takes no lock that writers or readers need
(``PASSIVE``), and sqlite3 lets the interpreter go while it copies, so done here it
costs the writers nothing; once it has copied the whole log, the next writer starts
the log again from its beginning, and commits do not reach the mark. SQLite's own
checkpoint stays as the backstop (``AUTOCHECKPOINT_PAGES``), for a log that outgrows
the thread.

The thread has a connection of its own per engine, not one of the pool's: it never
waits for the pool, nor shows in it. It closes that connection when nothing was written
since its last round (the log's size and time, one ``stat``), and when the engine is
disposed, before ``dispose`` returns, so the last connection to close still folds the
log into the file. Hand-written: SQLite offers the pragma, not the thread.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from pathlib import Path

from sqlalchemy import Engine

# How often the checkpoint thread copies the log back, and the size of log (pages of 4 KiB)
# at which a commit does it itself, the backstop (``store.db`` sets it on each connection).
CHECKPOINT_EVERY = 0.1
AUTOCHECKPOINT_PAGES = 10_000


class Checkpointer:
    """The checkpoint thread of this process and the SQLite engines it serves."""

    def __init__(self) -> None:
        self._files: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()
        self._connections: weakref.WeakKeyDictionary[Engine, sqlite3.Connection] = (
            weakref.WeakKeyDictionary()
        )
        # The log's size and time when last checkpointed: unchanged, there is nothing to do.
        self._seen: weakref.WeakKeyDictionary[Engine, tuple[int, int]] = weakref.WeakKeyDictionary()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self.rounds = 0  # rounds run (for tests)

    def add(self, engine: Engine, path: str) -> None:
        with self._guard:
            self._files[engine] = str(Path(path).resolve())
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sqlite-checkpoint", daemon=True
                )
                self._thread.start()

    def discard(self, engine: Engine) -> None:
        """No more checkpoints for ``engine`` (disposed); its connection is closed once this
        returns (a round in progress finishes first)."""
        with self._guard:
            self._files.pop(engine, None)
            self._seen.pop(engine, None)
            self._close(engine)

    def _close(self, engine: Engine) -> None:
        connection = self._connections.pop(engine, None)
        if connection is not None:
            connection.close()

    def _run(self) -> None:
        while True:
            time.sleep(CHECKPOINT_EVERY)
            with self._guard:
                for engine, path in list(self._files.items()):
                    self._checkpoint(engine, path)
                self.rounds += 1

    def _checkpoint(self, engine: Engine, path: str) -> None:
        try:
            log = os.stat(path + "-wal")
        except OSError:  # no log (no connection open on the file), or the file is gone
            self._close(engine)
            return
        seen = (log.st_size, log.st_mtime_ns)
        if self._seen.get(engine) == seen:
            # Nothing written since the last round: a checkpoint would copy nothing, and an
            # idle engine need not keep a connection open.
            self._close(engine)
            return
        connection = self._connections.get(engine)
        try:
            if connection is None:
                # ``mode=rw``: a file that is gone is not made again, empty.
                uri = Path(path).as_uri() + "?mode=rw"
                connection = sqlite3.connect(
                    uri, uri=True, timeout=0, isolation_level=None, check_same_thread=False
                )
                self._connections[engine] = connection
            connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self._seen[engine] = seen
        except sqlite3.Error:
            pass  # busy, or the file is gone: the next round, or SQLite's own checkpoint


checkpointer = Checkpointer()  # one thread for the process
