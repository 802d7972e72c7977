"""The rows written with a text (history, commlog) and audit entries: when they reach the
database, in what order, and that a rollback takes them with it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.domain.checklist import Channel
from clinictext.services import audit, message_events, sending
from clinictext.services.messages import store_new
from clinictext.store.db import transaction
from clinictext.store.models import AuditEvent, Commlog, Message, MessageEvent
from tests.support import SeededClinic, received_message, seed_clinic

NOW = datetime(2026, 5, 20, 15, 0, tzinfo=UTC)


def _text(clinic: SeededClinic, body: str) -> Message:
    return received_message(clinic.org_id, clinic.patient_ids[0], body, at=NOW)


def _count(session: Session, model: type, message_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(model).where(model.message_id == message_id)  # type: ignore[attr-defined]
        )
        or 0
    )


def test_buffered_rows_wait_for_write_and_keep_their_order(
    factory: sessionmaker[Session],
) -> None:
    clinic = seed_clinic(factory)
    with transaction(factory) as s, message_events.buffered(s):
        message = store_new(s, _text(clinic, "Hi"))
        message_events.record(s, message, "read", NOW)
        with s.no_autoflush:
            assert _count(s, MessageEvent, message.id) == 0
            assert _count(s, Commlog, message.id) == 0
        message_events.write(s)
        statuses = list(
            s.scalars(
                select(MessageEvent.status)
                .where(MessageEvent.message_id == message.id)
                .order_by(MessageEvent.id)
            )
        )
        assert statuses == ["received", "read"]
        assert _count(s, Commlog, message.id) == 1


def test_an_inner_block_uses_the_outer_buffer_and_leaves_it_in_place(
    factory: sessionmaker[Session],
) -> None:
    clinic = seed_clinic(factory)
    with transaction(factory) as s, message_events.buffered(s):
        first = store_new(s, _text(clinic, "one"))
        with message_events.buffered(s):
            second = store_new(s, _text(clinic, "two"))
        # The inner block ended without writing: its rows are still in the outer buffer.
        third = store_new(s, _text(clinic, "three"))
        message_events.write(s)
        for m in (first, second, third):
            assert _count(s, MessageEvent, m.id) == 1
            assert _count(s, Commlog, m.id) == 1
        # Written once: nothing is left to write again.
        message_events.write(s)
        assert _count(s, MessageEvent, second.id) == 1


def test_a_text_sent_inside_a_buffered_batch_has_its_rows_when_it_returns(
    factory: sessionmaker[Session],
) -> None:
    clinic = seed_clinic(factory)
    with transaction(factory) as s, message_events.buffered(s):
        message = sending.send(
            s, clinic.org_id, clinic.patient_ids[0], Channel.CLINIC, "Hello", actor="t", now=NOW
        )
        assert _count(s, MessageEvent, message.id) == 1
        assert _count(s, Commlog, message.id) == 1


def test_audit_entries_are_written_at_once_and_undone_with_a_savepoint(
    factory: sessionmaker[Session],
) -> None:
    clinic = seed_clinic(factory)

    def entries(s: Session, action: str) -> int:
        return int(
            s.scalar(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
            )
            or 0
        )

    with transaction(factory) as s:
        audit.record(s, clinic.org_id, "t", "kept", "patient", clinic.patient_ids[0], {"a": 1})
        with s.no_autoflush:
            assert entries(s, "kept") == 1
        savepoint = s.begin_nested()
        audit.record(s, clinic.org_id, "t", "undone", "patient", clinic.patient_ids[0])
        assert entries(s, "undone") == 1
        savepoint.rollback()
        assert entries(s, "undone") == 0
    with transaction(factory) as s:
        kept = s.scalars(select(AuditEvent).where(AuditEvent.action == "kept")).one()
        assert kept.data == {"a": 1}
        assert entries(s, "undone") == 0
