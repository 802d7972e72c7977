"""The rows written with a text: its history (``MessageEvent``) and its commlog entry, one
by one or, in a batch, all at once.

A status callback adds one history row. Added as an ORM object, each row costs an object
built attribute by attribute, a unit-of-work sort, and an INSERT ... RETURNING to learn an
id nobody reads; for a batch of 200 callbacks that was a third of the batch's cost. Inside
``buffered`` the rows are kept as plain values and ``write`` inserts them with one
executemany, in the order they were recorded (so a text's history keeps its order). A
new text's commlog entry is kept the same way (``commlog``): a batch of received texts
writes each kind in one statement. A text sent by staff writes its rows together with
the text itself (``messages.store_new_audited``), from ``history_row`` and
``commlog_row``.

Every writer of history rows in a batch must come through ``record``: a row added as an
ORM object would reach the database before the buffered rows recorded ahead of it.
Nothing reads history rows while a batch is applied; a batch that must undo part of its
work (a savepoint) is applied without the buffer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from clinictext.store.bulk import InsertRows
from clinictext.store.models import Commlog, Message, MessageEvent

_BUFFER = "clinictext_message_events"
_HISTORY: Table = MessageEvent.__table__  # type: ignore[assignment]
_COMMLOGS: Table = Commlog.__table__  # type: ignore[assignment]


def record(
    session: Session,
    message: Message,
    status: str,
    at: datetime,
    *,
    detail: str | None = None,
    error_code: str | None = None,
) -> None:
    """``message`` reached ``status`` at ``at``: a row of its history."""
    buffer: dict[Table, list[dict[str, Any]]] | None = session.info.get(_BUFFER)
    if buffer is None:
        session.add(MessageEvent.of(message, status, at, detail=detail, error_code=error_code))
        return
    buffer[_HISTORY].append(history_row(message, status, at, detail, error_code))


def record_row(session: Session, org_id: int, message_id: int, status: str, at: datetime) -> None:
    """``record`` for a text changed as a row, not loaded as an object; in ``buffered``."""
    buffer: dict[Table, list[dict[str, Any]]] = session.info[_BUFFER]
    buffer[_HISTORY].append(history_values(org_id, message_id, status, at))


def history_row(
    message: Message,
    status: str,
    at: datetime,
    detail: str | None = None,
    error_code: str | None = None,
) -> dict[str, Any]:
    """A row of ``message``'s history, every column (``HISTORY_COLUMNS``) but its id."""
    return history_values(message.organization_id, message.id, status, at, detail, error_code)


def history_values(
    org_id: int,
    message_id: int,
    status: str,
    at: datetime,
    detail: str | None = None,
    error_code: str | None = None,
) -> dict[str, Any]:
    """``history_row`` for a text known by its ids."""
    return {
        "organization_id": org_id,
        "message_id": message_id,
        "status": status,
        "error_code": error_code,
        "detail": detail,
        "at": at,
    }


HISTORY_COLUMNS = ("organization_id", "message_id", "status", "error_code", "detail", "at")


def commlog(session: Session, message: Message) -> None:
    """The commlog entry of ``message``, just stored (every message, sent or received, has
    one)."""
    buffer: dict[Table, list[dict[str, Any]]] | None = session.info.get(_BUFFER)
    if buffer is None:
        session.add(Commlog(**commlog_row(message)))
        return
    buffer[_COMMLOGS].append(commlog_row(message))


def commlog_row(message: Message) -> dict[str, Any]:
    """``message``'s commlog row, with the columns in ``COMMLOG_COLUMNS``."""
    return {
        "organization_id": message.organization_id,
        "patient_id": message.patient_id,
        "message_id": message.id,
        "direction": message.direction,
        "kind": message.kind,
        "at": message.created_at,
    }


COMMLOG_COLUMNS = ("organization_id", "patient_id", "message_id", "direction", "kind", "at")


@contextmanager
def buffered(session: Session) -> Iterator[None]:
    """Rows recorded in the block are kept until ``write``; what the block did not write is
    dropped with it (it left by an exception: its transaction is rolled back). Inside a
    block already buffering, the outer block's buffer is used and written at its end (or
    by an inner ``write``, which keeps the order)."""
    if _BUFFER in session.info:
        yield
        return
    session.info[_BUFFER] = {_HISTORY: [], _COMMLOGS: []}
    try:
        yield
    finally:
        session.info.pop(_BUFFER, None)


def write(session: Session) -> None:
    """Insert the buffered rows, in the order recorded, in one statement per table."""
    buffer: dict[Table, list[dict[str, Any]]] | None = session.info.get(_BUFFER)
    for table, rows in (buffer or {}).items():
        if rows:
            _WRITERS[table].run(session, rows)
            rows.clear()


def insert_history(session: Session, rows: list[dict[str, Any]]) -> None:
    """History rows built by the caller (every column in ``HISTORY_COLUMNS``), written at
    once: a batch of texts claimed together."""
    _WRITERS[_HISTORY].run(session, rows)


# Built once; on PostgreSQL each a single statement however many rows (``InsertRows``).
_WRITERS = {
    _HISTORY: InsertRows(_HISTORY, HISTORY_COLUMNS),
    _COMMLOGS: InsertRows(_COMMLOGS, COMMLOG_COLUMNS),
}
