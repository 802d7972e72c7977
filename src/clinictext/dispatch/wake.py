"""Waking an idle dispatcher when new work is written, instead of waiting for its poll.

Two ways, and the poll stays underneath both as the fallback (texts that fall due later,
a dropped connection):

* PostgreSQL: migration 0009's trigger notifies ``clinictext_new_work`` when a statement
  commits texts due now; every worker, on any machine, listens on its own connection
  (psycopg 3's ``notifies()``), so an idle worker claims a new text within a round trip.
* In one process (the dispatcher inside ``serve``, on either database): the engine it
  shares with the API reports each committed ``INSERT INTO messages`` (SQLAlchemy's
  connection events), at no cost to a database that has no NOTIFY.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from sqlalchemy import Engine, event

log = logging.getLogger("clinictext.dispatch")

CHANNEL = "clinictext_new_work"
# After the listening connection fails, try again this often (polling meanwhile).
RECONNECT_EVERY = 5.0
_NEW_WORK = "clinictext_new_work"


async def listen(
    engine: Engine, wake: Callable[[], None], listening: Callable[[bool], None]
) -> None:
    """Call ``wake`` on every notification, until cancelled; ``listening`` says whether
    notifications are being received (the caller polls more often while they are not)."""
    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                listening(True)
                wake()  # whatever was written while nobody listened
                async for _ in conn.notifies():
                    wake()
        except (psycopg.Error, OSError) as err:
            log.warning("not listening for new work (%s); polling until it is back", err)
        finally:
            listening(False)
        await asyncio.sleep(RECONNECT_EVERY)


def watch_inserts(engine: Engine, wake: Callable[[], object]) -> Callable[[], None]:
    """Call ``wake`` (from any thread) after each commit that inserted texts through
    ``engine``; returns the function that stops watching."""

    def executed(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("INSERT INTO messages "):
            conn.info[_NEW_WORK] = True

    def committed(conn: Any) -> None:
        if conn.info.pop(_NEW_WORK, False):
            wake()

    def rolled_back(conn: Any) -> None:
        conn.info.pop(_NEW_WORK, None)

    hooks: list[tuple[str, Callable[..., None]]] = [
        ("after_cursor_execute", executed),
        ("commit", committed),
        ("rollback", rolled_back),
    ]
    for name, fn in hooks:
        event.listen(engine, name, fn)

    def stop() -> None:
        for name, fn in hooks:
            with contextlib.suppress(Exception):
                event.remove(engine, name, fn)

    return stop
