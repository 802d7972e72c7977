"""The frequency cap reads only a week of the patient's automated texts, through an index."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, text
from sqlalchemy.orm import Session, sessionmaker

from clinictext.domain.frequency import counted_since, next_allowed
from clinictext.services import scheduling
from clinictext.store.db import transaction
from clinictext.store.models import Message, Patient
from tests.support import seed_clinic

NOW = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize("seed", range(300))
def test_texts_before_the_window_never_change_when_the_next_text_may_go(seed: int) -> None:
    rng = random.Random(seed)
    times = [
        NOW + timedelta(minutes=rng.randrange(-30 * 24 * 60, 10 * 24 * 60))
        for _ in range(rng.randrange(0, 12))
    ]
    if times and rng.random() < 0.5:  # a text exactly at the window's edge
        times.append(counted_since(NOW))
    at = NOW + timedelta(minutes=rng.randrange(0, 3 * 24 * 60))
    daily, weekly = rng.randrange(1, 4), rng.randrange(1, 8)
    recent = [t for t in times if t > counted_since(NOW)]
    assert next_allowed(recent, at, daily, weekly) == next_allowed(times, at, daily, weekly)


def test_the_cap_reads_the_window_through_its_partial_index(
    engine: Engine, factory: sessionmaker[Session]
) -> None:
    clinic = seed_clinic(factory, patient_count=2)
    patient_id = clinic.patient_ids[0]
    # Enough history that PostgreSQL's planner would rather scan than use a poor index.
    rows = [
        {
            "organization_id": clinic.org_id,
            "patient_id": clinic.patient_ids[i % 2],
            "direction": "outbound",
            "kind": ("automated", "manual", "campaign")[i % 3],
            "channel": "clinic",
            "lane": 1,
            "body": "x",
            "encoding": "GSM-7",
            "segments": 1,
            "cost_micros": 0,
            "to_phone": "+14155550123",
            "status": "delivered",
            "due_at": NOW - timedelta(hours=i),
            "attempts": 0,
            "created_by": "t",
            "created_at": NOW - timedelta(hours=i),
            "updated_at": NOW,
        }
        for i in range(6_000)
    ]
    with transaction(factory) as s:
        s.execute(insert(Message), rows)
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))

    statements: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        statements.append((statement, params))

    with factory() as s:
        patient = s.get(Patient, patient_id)
        assert patient is not None
        event.listen(engine, "before_cursor_execute", capture)
        try:
            times = scheduling._automated_times(s, patient, NOW)
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        # Every third hour back to a week ago, for this patient every sixth.
        assert len(times) == len([i for i in range(0, 7 * 24) if i % 6 == 0])
        statement, params = statements[-1]
        explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
        plan = "\n".join(
            str(row[-1])
            for row in s.connection().exec_driver_sql(explain + statement, params).all()
        )
    assert "ix_messages_automated_patient" in plan, plan
    assert "SCAN messages" not in plan and "Seq Scan" not in plan, plan
