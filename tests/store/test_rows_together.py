"""``store.bulk.InsertRows`` and ``UpdateRows``: many rows in one statement on PostgreSQL,
an executemany elsewhere, with the same result."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, Table, null, select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.store.bulk import InsertRows, UpdateRows
from clinictext.store.db import transaction
from clinictext.store.models import Message, MessageEvent
from tests.support import counting, queue_texts, seed_clinic

AT = datetime(2026, 5, 20, 15, 0, tzinfo=UTC)
_HISTORY: Table = MessageEvent.__table__  # type: ignore[assignment]
_MESSAGES: Table = Message.__table__  # type: ignore[assignment]
COLUMNS = ("organization_id", "message_id", "status", "error_code", "detail", "at")


def test_rows_go_in_in_the_order_given_with_their_own_values(
    engine: Engine, factory: sessionmaker[Session]
) -> None:
    clinic = seed_clinic(factory)
    (mid,) = queue_texts(factory, clinic.org_id, [(clinic.patient_ids[0], "hi")])
    statuses = ["sending", "sent", "delivered", "queued", "sending", "failed", "sent"]
    rows = [
        {
            "organization_id": clinic.org_id,
            "message_id": mid,
            "status": status,
            "error_code": "30003" if status == "failed" else None,
            "detail": None if n % 2 else f"step {n}",
            "at": AT + timedelta(seconds=n),
        }
        for n, status in enumerate(statuses)
    ]
    with counting(engine) as seen, transaction(factory) as s:
        InsertRows(_HISTORY, COLUMNS).run(s, rows)
    assert len([q for q in seen if q.lstrip().upper().startswith("INSERT")]) == 1
    with factory() as s:
        written = s.execute(
            select(*[_HISTORY.c[c] for c in COLUMNS])
            .where(
                _HISTORY.c.message_id == mid, _HISTORY.c.at.between(AT, AT + timedelta(minutes=1))
            )
            .order_by(_HISTORY.c.id)
        ).all()
    assert [dict(r._mapping) for r in written] == rows


def test_each_row_is_updated_with_its_own_values_and_the_constant_ones(
    engine: Engine, factory: sessionmaker[Session]
) -> None:
    clinic = seed_clinic(factory)
    ids = queue_texts(factory, clinic.org_id, [(clinic.patient_ids[0], f"t{i}") for i in range(5)])
    with transaction(factory) as s:
        for message in s.scalars(select(Message).where(Message.id.in_(ids))):
            message.claimed_by = "w1"
    changes = [
        {
            "id": mid,
            "status": "sent",
            "provider_id": f"SM{mid}",
            "updated_at": AT + timedelta(seconds=i),
        }
        for i, mid in enumerate(ids[:4])
    ]
    changes[1]["provider_id"] = None
    with counting(engine) as seen, transaction(factory) as s:
        UpdateRows(
            _MESSAGES, "id", ("status", "provider_id", "updated_at"), {"claimed_by": null()}
        ).run(s, changes)
    assert len([q for q in seen if q.lstrip().upper().startswith("UPDATE")]) == 1
    with factory() as s:
        got = {
            m.id: (m.status, m.provider_id, m.updated_at, m.claimed_by)
            for m in s.scalars(select(Message).where(Message.id.in_(ids)))
        }
    for change in changes:
        assert got[change["id"]] == (
            change["status"],
            change["provider_id"],
            change["updated_at"],
            None,
        )
    assert got[ids[4]][0] == "queued" and got[ids[4]][3] == "w1"  # not given: untouched
