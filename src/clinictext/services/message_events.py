"""A text's history rows (``MessageEvent``), written one by one or, in a batch, all at once.

A status callback adds one history row. Added as an ORM object, each row costs an object
built attribute by attribute, a unit-of-work sort, and an INSERT ... RETURNING to learn an
id nobody reads; for a batch of 200 callbacks that was a third of the batch's cost. Inside
``buffered`` the rows are kept as plain values and ``write`` inserts them with one
executemany, in the order they were recorded (so a text's history keeps its order).

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

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from clinictext.store.models import Message, MessageEvent

_BUFFER = "clinictext_message_events"
_TABLE: Table = MessageEvent.__table__  # type: ignore[assignment]


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
    rows: list[dict[str, Any]] | None = session.info.get(_BUFFER)
    if rows is None:
        session.add(MessageEvent.of(message, status, at, detail=detail, error_code=error_code))
        return
    rows.append(
        {
            "organization_id": message.organization_id,
            "message_id": message.id,
            "status": status,
            "error_code": error_code,
            "detail": detail,
            "at": at,
        }
    )


@contextmanager
def buffered(session: Session) -> Iterator[None]:
    """History rows recorded in the block are kept until ``write``; what the block did not
    write is dropped with it (it left by an exception: its transaction is rolled back)."""
    session.info[_BUFFER] = []
    try:
        yield
    finally:
        session.info.pop(_BUFFER, None)


def write(session: Session) -> None:
    """Insert the buffered rows, in the order recorded, in one statement."""
    rows: list[dict[str, Any]] | None = session.info.get(_BUFFER)
    if rows:
        session.execute(insert(_TABLE), rows)
        rows.clear()
