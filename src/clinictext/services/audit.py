"""The audit log: who changed what, when. No message bodies or names, only ids.

An entry is written at once with a plain INSERT on the session's connection: nothing
reads it back in the transaction that writes it, and as an ORM object each cost a
unit-of-work flush (on the send path, a fifth of a text's cost).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from clinictext.services.clock import utcnow
from clinictext.store.models import AuditEvent


def record(
    session: Session,
    org_id: int,
    actor: str,
    action: str,
    entity: str,
    entity_id: int | None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    insert_row(session, row(org_id, actor, action, entity, entity_id, data, at))


def insert_row(session: Session, entry: dict[str, Any]) -> None:
    """Write an entry built by ``row``."""
    session.connection().execute(_INSERT, entry)


def row(
    org_id: int,
    actor: str,
    action: str,
    entity: str,
    entity_id: int | None,
    data: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """An entry's row, every column but its id."""
    return {
        "organization_id": org_id,
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": entity_id,
        "data": data or {},
        "at": at or utcnow(),
    }


_AUDIT: Table = AuditEvent.__table__  # type: ignore[assignment]
_INSERT = insert(_AUDIT)
COLUMNS = ("organization_id", "actor", "action", "entity", "entity_id", "data", "at")


def list_events(
    session: Session,
    org_id: int,
    *,
    limit: int = 100,
    before_id: int | None = None,
    entity: str | None = None,
    entity_id: int | None = None,
) -> list[AuditEvent]:
    """Newest first."""
    q = select(AuditEvent).where(AuditEvent.organization_id == org_id)
    if before_id is not None:
        q = q.where(AuditEvent.id < before_id)
    if entity is not None:
        q = q.where(AuditEvent.entity == entity)
    if entity_id is not None:
        q = q.where(AuditEvent.entity_id == entity_id)
    return list(session.scalars(q.order_by(AuditEvent.id.desc()).limit(limit)))
