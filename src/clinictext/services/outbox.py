"""Texts not yet handed to the provider, and taking them back."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from clinictext.domain.statuses import DUE, Status
from clinictext.services import message_events
from clinictext.store.db import for_update
from clinictext.store.models import Message


def not_handed() -> ColumnElement[bool]:
    """Texts the provider has not been given: due, or claimed and waiting for their slot."""
    return or_(
        Message.status.in_([s.value for s in DUE]),
        and_(Message.status == Status.SENDING.value, Message.handed_at.is_(None)),
    )


def cancel(session: Session, message: Message, now: datetime, why: str) -> None:
    """Cancel one text the provider has not been given, with the reason in its history."""
    message.status = Status.CANCELED.value
    message.updated_at = now
    message.error_message = why
    message.claimed_by = None
    message.lease_until = None
    message_events.record(session, message, Status.CANCELED.value, now, detail=why)


def cancel_pending_to(session: Session, org_id: int, phone: str, now: datetime, why: str) -> int:
    """Cancel every text to ``phone`` not handed to the provider yet, claimed ones included.

    A worker holding a claimed text finds it canceled at its hand-off and sends nothing.
    """
    query = (
        select(Message)
        .where(
            Message.organization_id == org_id,
            Message.direction == "outbound",
            Message.to_phone == phone,
            not_handed(),
        )
        .order_by(Message.id)
    )
    count = 0
    # Locked: waits for a hand-off in progress (dispatch.handoff), then sees it.
    for message in session.scalars(for_update(session, query)):
        cancel(session, message, now, why)
        count += 1
    return count


def in_flight_to(session: Session, org_id: int, phone: str, now: datetime) -> bool:
    """Whether a live worker has handed a text to ``phone`` to the provider and not yet
    recorded the answer."""
    return (
        session.scalar(
            select(Message.id)
            .where(
                Message.organization_id == org_id,
                Message.to_phone == phone,
                Message.status == Status.SENDING.value,
                Message.handed_at.is_not(None),
                Message.lease_until >= now,
            )
            .limit(1)
        )
        is not None
    )
