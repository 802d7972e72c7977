"""Message statuses: the monotonic status machine and the three labels staff see.

A status only moves forward in rank. Provider callbacks arrive late, twice or out of
order; ``advance`` makes every one of them safe to apply: a ``sent`` arriving after
``delivered`` changes nothing, and a final status never changes again.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELED = "canceled"
    RECEIVED = "received"


class Label(StrEnum):
    PENDING = "Pending"
    DELIVERED = "Delivered"
    FAILED = "Failed"
    CANCELED = "Canceled"
    RECEIVED = "Received"


RANK: dict[Status, int] = {
    Status.SCHEDULED: 0,
    Status.QUEUED: 1,
    Status.SENDING: 2,
    Status.SENT: 3,
    Status.DELIVERED: 4,
    Status.UNDELIVERED: 4,
    Status.FAILED: 4,
    Status.CANCELED: 4,
    Status.RECEIVED: 4,
}

FINAL = frozenset(
    {Status.DELIVERED, Status.UNDELIVERED, Status.FAILED, Status.CANCELED, Status.RECEIVED}
)
PENDING = frozenset({Status.SCHEDULED, Status.QUEUED, Status.SENDING, Status.SENT})
# Statuses the dispatcher may pick up to send.
DUE = frozenset({Status.SCHEDULED, Status.QUEUED})

_LABELS = {
    **{s: Label.PENDING for s in PENDING},
    Status.DELIVERED: Label.DELIVERED,
    Status.UNDELIVERED: Label.FAILED,
    Status.FAILED: Label.FAILED,
    Status.CANCELED: Label.CANCELED,
    Status.RECEIVED: Label.RECEIVED,
}


def label(status: Status) -> Label:
    """The label staff see for a status."""
    return _LABELS[status]


def advance(current: Status, reported: Status) -> Status:
    """The status after ``reported`` is applied to ``current``: never backwards, final stays."""
    if current in FINAL:
        return current
    if current is Status.RECEIVED or reported is Status.RECEIVED:
        return current  # inbound messages have one status
    if RANK[reported] > RANK[current]:
        return reported
    return current


def is_final(status: Status) -> bool:
    return status in FINAL


def can_cancel(status: Status) -> bool:
    """Only a message not yet handed to the provider can be canceled."""
    return status in DUE


def attempt_numbers(history: list[Status]) -> list[int]:
    """The attempt each status of a history (oldest first) belongs to, from 1.

    The one step back a text takes is a retry: back to ``queued`` after a worker took it.
    That starts the next attempt, so within an attempt the statuses only move forward.
    """
    numbers: list[int] = []
    attempt, taken = 1, False
    for status in history:
        if status in DUE and taken:
            attempt, taken = attempt + 1, False
        taken = taken or RANK[status] >= RANK[Status.SENDING]
        numbers.append(attempt)
    return numbers
