"""The audit log: who changed what, when. No message bodies or names, only ids."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
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
) -> AuditEvent:
    event = AuditEvent(
        organization_id=org_id,
        actor=actor,
        action=action,
        entity=entity,
        entity_id=entity_id,
        data=data or {},
        at=at or utcnow(),
    )
    session.add(event)
    return event


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
