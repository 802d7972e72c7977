"""An id names one record forever: never handed out again after a delete."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, delete
from sqlalchemy.orm import sessionmaker

from clinictext.services import orgs
from clinictext.store.db import transaction
from clinictext.store.models import AuditEvent, Organization


def test_ids_are_not_reused_after_the_newest_row_is_deleted(
    engine: Engine, factory: sessionmaker
) -> None:
    with transaction(factory) as s:
        org = orgs.create_org(s, "Clinic", actor="t")
        first = AuditEvent(
            organization_id=org.id, actor="t", action="x", entity="e", data={}, at=datetime.now(UTC)
        )
        s.add(first)
        s.flush()
        first_id = first.id
    with transaction(factory) as s:
        s.execute(delete(AuditEvent).where(AuditEvent.id >= first_id))
    with transaction(factory) as s:
        again = AuditEvent(
            organization_id=org.id, actor="t", action="y", entity="e", data={}, at=datetime.now(UTC)
        )
        s.add(again)
        s.flush()
        assert again.id > first_id
        s.execute(delete(Organization).where(Organization.id == org.id))
    with transaction(factory) as s:
        assert orgs.create_org(s, "Another", actor="t").id > org.id
