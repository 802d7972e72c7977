"""Reading messages and their status history."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinictext.services.errors import Invalid, NotFound
from clinictext.services.patients import Page, get_patient, parse_cursor
from clinictext.store.models import Message, MessageEvent

DIRECTIONS = ("outbound", "inbound")


def get_message(session: Session, org_id: int, message_id: int) -> Message:
    message = session.get(Message, message_id)
    if message is None or message.organization_id != org_id:
        raise NotFound(f"There is no message {message_id}.", code="message_not_found")
    return message


def history(session: Session, message: Message) -> list[MessageEvent]:
    q = select(MessageEvent).where(MessageEvent.message_id == message.id).order_by(MessageEvent.id)
    return list(session.scalars(q))


def list_messages(
    session: Session,
    org_id: int,
    *,
    patient_id: int | None = None,
    status: str | None = None,
    direction: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """Newest first; the cursor continues below the last id returned."""
    query = select(Message).where(Message.organization_id == org_id)
    if patient_id is not None:
        get_patient(session, org_id, patient_id)
        query = query.where(Message.patient_id == patient_id)
    if status is not None:
        query = query.where(Message.status == status)
    if direction is not None:
        if direction not in DIRECTIONS:
            raise Invalid("direction must be 'outbound' or 'inbound'.", code="invalid_direction")
        query = query.where(Message.direction == direction)
    before = parse_cursor(cursor)
    if before is not None:
        query = query.where(Message.id < before)
    rows = list(session.scalars(query.order_by(Message.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, str(rows[-1].id) if more else None)
