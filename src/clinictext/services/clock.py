"""The current time, in one place, so tests and services agree on it.

``as_of`` runs code as at another moment (the demo writes a history of past days through
the real services). It is a context variable, not a patch: other threads and tasks keep
the real time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_as_of: ContextVar[datetime | None] = ContextVar("clinictext_as_of", default=None)


def utcnow() -> datetime:
    return _as_of.get() or datetime.now(UTC)


@contextmanager
def as_of(when: datetime) -> Iterator[None]:
    """Within the block, ``utcnow()`` answers ``when`` (in this thread or task only)."""
    if when.tzinfo is None:
        raise ValueError("as_of needs an aware datetime")
    token = _as_of.set(when)
    try:
        yield
    finally:
        _as_of.reset(token)
