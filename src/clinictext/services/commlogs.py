"""Communication-log entries: one per message, sent or received."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinictext.services import audit
from clinictext.services.clock import utcnow
from clinictext.services.errors import Conflict, NotFound
from clinictext.services.patients import Page, get_patient, parse_cursor
from clinictext.store.models import Commlog


def deletable(commlog: Commlog) -> bool:
    """A received text's commlog is tied to the text itself and cannot be deleted."""
    return commlog.direction == "outbound" and commlog.deleted_at is None


def list_commlogs(
    session: Session,
    org_id: int,
    *,
    patient_id: int | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> Page:
    query = select(Commlog).where(Commlog.organization_id == org_id, Commlog.deleted_at.is_(None))
    if patient_id is not None:
        get_patient(session, org_id, patient_id)
        query = query.where(Commlog.patient_id == patient_id)
    after = parse_cursor(cursor)
    if after is not None:
        query = query.where(Commlog.id > after)
    rows = list(session.scalars(query.order_by(Commlog.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, str(rows[-1].id) if more else None)


def delete_commlog(
    session: Session, org_id: int, commlog_id: int, actor: str, now: datetime | None = None
) -> None:
    """Soft-delete a sent text's commlog; the audit log keeps who and when."""
    row = session.get(Commlog, commlog_id)
    if row is None or row.organization_id != org_id or row.deleted_at is not None:
        raise NotFound(f"There is no commlog {commlog_id}.", code="commlog_not_found")
    if row.direction != "outbound":
        raise Conflict(
            "This commlog belongs to a text the patient sent, and a received text's commlog "
            "cannot be deleted because it is tied to the text itself.",
            code="commlog_not_deletable",
        )
    now = now or utcnow()
    row.deleted_at, row.deleted_by = now, actor
    audit.record(
        session,
        org_id,
        actor,
        "commlog.deleted",
        "commlog",
        row.id,
        {"message_id": row.message_id, "patient_id": row.patient_id},
        at=now,
    )
