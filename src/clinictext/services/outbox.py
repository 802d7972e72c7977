"""Texts not yet handed to the provider, and taking them back."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinictext.domain.statuses import DUE, Status
from clinictext.store.models import Message, MessageEvent


def cancel_pending_to(session: Session, org_id: int, phone: str, now: datetime, why: str) -> int:
    """Cancel every text to ``phone`` that has not been handed to the provider yet."""
    pending = session.scalars(
        select(Message).where(
            Message.organization_id == org_id,
            Message.direction == "outbound",
            Message.to_phone == phone,
            Message.status.in_([s.value for s in DUE]),
        )
    )
    count = 0
    for message in pending:
        message.status = Status.CANCELED.value
        message.updated_at = now
        message.error_message = why
        session.add(
            MessageEvent(
                organization_id=org_id,
                message_id=message.id,
                status=Status.CANCELED.value,
                detail=why,
                at=now,
            )
        )
        count += 1
    return count
