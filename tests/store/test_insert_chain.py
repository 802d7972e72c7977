"""``store.bulk.InsertChain``: a new row and the rows that name it, written together."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.services import audit, messages
from clinictext.store.db import transaction
from clinictext.store.models import AuditEvent, Commlog, Message, MessageEvent
from tests.support import counting, seed_clinic

AT = datetime(2026, 5, 20, 15, 0, tzinfo=UTC)


def _new_text(org_id: int, patient_id: int, body: str) -> Message:
    return Message(
        organization_id=org_id,
        patient_id=patient_id,
        direction="outbound",
        kind="staff",
        channel="clinic",
        body=body,
        encoding="GSM-7",
        segments=1,
        to_phone="+14155550123",
        status="queued",
        due_at=AT,
        created_at=AT,
        updated_at=AT,
        created_by="t",
    )


def test_each_tail_row_names_the_new_row_and_postgresql_writes_them_in_one_statement(
    engine: Engine, factory: sessionmaker[Session]
) -> None:
    clinic = seed_clinic(factory)
    pid = clinic.patient_ids[0]
    with transaction(factory) as s:
        first = messages.store_new(s, _new_text(clinic.org_id, pid, "First"))
        s.flush()
    with transaction(factory) as s, counting(engine) as seen:
        text = _new_text(clinic.org_id, pid, "Second")
        entry = audit.row(clinic.org_id, "t", "message.queued", "message", None, {"k": 1}, AT)
        messages.store_new_audited(s, text, entry, detail="held until 9:00")
        # The object joined the session as the stored row.
        assert s.get(Message, text.id) is text
    writes = [q for q in seen if q.split()[0].upper() in ("INSERT", "WITH")]
    assert len(writes) == (1 if engine.dialect.name == "postgresql" else 4), writes
    with factory() as s:
        assert text.id != first.id
        assert s.get(Message, text.id).body == "Second"  # type: ignore[union-attr]
        history = s.execute(
            select(MessageEvent.status, MessageEvent.detail, MessageEvent.at).where(
                MessageEvent.message_id == text.id
            )
        ).all()
        assert history == [("queued", "held until 9:00", AT)]
        commlogs = s.scalars(select(Commlog).where(Commlog.message_id == text.id)).all()
        assert [(c.patient_id, c.direction, c.kind) for c in commlogs] == [
            (pid, "outbound", "staff")
        ]
        entries = s.scalars(select(AuditEvent).where(AuditEvent.action == "message.queued")).all()
        assert [(e.entity, e.entity_id, e.data) for e in entries] == [
            ("message", text.id, {"k": 1})
        ]
        # The first text's own rows still name it.
        assert (
            s.scalar(select(MessageEvent.id).where(MessageEvent.message_id == first.id)) is not None
        )


def test_in_a_savepoint_a_rolled_back_text_leaves_nothing(
    factory: sessionmaker[Session],
) -> None:
    clinic = seed_clinic(factory)
    with transaction(factory) as s:
        savepoint = s.begin_nested()
        entry = audit.row(clinic.org_id, "t", "message.queued", "message", None, {}, AT)
        messages.store_new_audited(s, _new_text(clinic.org_id, clinic.patient_ids[0], "x"), entry)
        savepoint.rollback()
    with factory() as s:
        assert s.scalars(select(Message)).all() == []
        assert (
            s.scalars(select(AuditEvent).where(AuditEvent.action == "message.queued")).all() == []
        )
