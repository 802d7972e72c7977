"""Canceling a text that has not been handed to the provider yet.

The dispatcher claims due texts concurrently, so "is it still cancelable?" and "cancel it"
must be one statement: a conditional UPDATE whose WHERE is ``cancelable()``. Whoever gets
the row first wins; the loser sees it no longer matches (rowcount 0) and says why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, update
from sqlalchemy.orm import Session

from clinictext.domain.statuses import Status
from clinictext.services import audit, outbox
from clinictext.services.clock import utcnow
from clinictext.services.errors import Conflict
from clinictext.services.messages import get_message
from clinictext.store.models import Message, MessageEvent


class NotCancelable(Conflict):
    code = "not_cancelable"


def cancelable() -> ColumnElement[bool]:
    """The SQL condition under which a message may still be canceled: the provider has not
    been given it (due, or claimed by a worker and still waiting for its pacing slot)."""
    return outbox.not_handed()


def why_not(direction: str, status: Status) -> str:
    """A sentence saying why a message in ``status`` cannot be canceled, and what to do."""
    if direction != "outbound":
        return "This is a text the patient sent; only texts to a patient can be canceled."
    if status is Status.CANCELED:
        return "This text was already canceled; nothing more to do."
    if status is Status.DELIVERED:
        return "This text was already delivered to the patient, so it can no longer be canceled."
    if status in (Status.SENDING, Status.SENT):
        return (
            "This text was already handed to the provider for delivery, so it can no longer "
            "be canceled. If it was sent in error, follow up with the patient."
        )
    if status in (Status.FAILED, Status.UNDELIVERED):
        return "This text already failed and will not be sent, so there is nothing to cancel."
    return f"A text that is {status.value} can no longer be canceled."


def reason(actor: str) -> str:
    return f"canceled by {actor}"


def cancel(
    session: Session, org_id: int, message_id: int, *, actor: str, now: datetime | None = None
) -> Message:
    """Cancel a text still waiting to be sent; ``NotCancelable`` (409) says why not."""
    now = now or utcnow()
    message = get_message(session, org_id, message_id)  # 404 for another org's message
    previous = message.status
    done = cast(
        CursorResult[Any],
        session.execute(
            update(Message)
            .where(
                Message.id == message.id,
                Message.organization_id == org_id,
                Message.direction == "outbound",
                cancelable(),
            )
            .values(status=Status.CANCELED.value, updated_at=now, claimed_by=None, lease_until=None)
            .execution_options(synchronize_session=False)
        ),
    )
    session.refresh(message)
    if done.rowcount != 1:
        raise NotCancelable(
            why_not(message.direction, Status(message.status)),
            message_status=message.status,
        )
    session.add(MessageEvent.of(message, Status.CANCELED.value, now, detail=reason(actor)))
    audit.record(
        session,
        org_id,
        actor,
        "message.canceled",
        "message",
        message.id,
        {"patient_id": message.patient_id, "from_status": previous},
        at=now,
    )
    session.flush()
    return message
