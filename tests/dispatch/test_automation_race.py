"""Several workers run automation rounds over the same due texts at once, while staff move
the appointments: every (appointment, rule) gets exactly one text.

Threads with their own connections stand in for worker processes (they coordinate only
through the database, as processes do). On PostgreSQL the rounds run twice: as written
(``FOR UPDATE SKIP LOCKED``, so workers take different rows) and with the batch read
without any lock, so that every worker reads every row and only the conditional claim
and the unique index stand between them and a second text.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from clinictext.services import automation, automation_round, rules, templates
from clinictext.services.automation_round import run_round
from clinictext.store.db import transaction
from clinictext.store.models import Appointment, AppointmentText, Message, Organization
from tests.support import seed_clinic

pytestmark = pytest.mark.timeout(300)

APPOINTMENTS = 40
WORKERS = 4
NOW = datetime(2027, 5, 11, 18, 0, tzinfo=UTC)  # 11:00 in Los Angeles: inside the window
# 20 hours later: both rules' texts are due (24 and 22 hours before), the margin is far.
START = NOW + timedelta(hours=20)


def _setup(factory: sessionmaker[Session]) -> list[int]:
    seeded = seed_clinic(factory, patient_count=APPOINTMENTS, name="Race Clinic")
    org_id = seeded.org_id
    booked = NOW - timedelta(days=10)
    with transaction(factory) as s:
        org = s.get(Organization, org_id)
        assert org is not None
        org.automated_daily_cap = org.automated_weekly_cap = 10
        for purpose, minutes, body in (
            ("reminder", 1440, "See you [ApptDate] at [ApptTime]."),
            ("confirmation", 1320, "Reply [ConfirmCode] to confirm [ApptDate] at [ApptTime]."),
        ):
            template = templates.create(
                s, org_id, name=purpose, purpose=purpose, body=body, actor="t", now=booked
            )
            rules.create(
                s,
                org_id,
                name=purpose,
                purpose=purpose,
                minutes_before=minutes,
                do_not_send_within_minutes=60,
                template_id=template.id,
                actor="t",
                now=booked,
            )
        ids = []
        for i, pid in enumerate(seeded.patient_ids):
            appointment = Appointment(
                organization_id=org_id,
                patient_id=pid,
                starts_at=START + timedelta(minutes=i),
                status="scheduled",
                confirm_code=f"R{i:04d}",
                created_by="t",
                created_at=booked,
                updated_at=booked,
            )
            s.add(appointment)
            s.flush()
            automation.replan(s, appointment, booked)
            ids.append(appointment.id)
    return ids


def _unlocked_due_ids(session: Session, now: datetime, limit: int) -> list[int]:
    return list(
        session.scalars(
            select(AppointmentText.id)
            .where(AppointmentText.state == "planned", AppointmentText.due_at <= now)
            .order_by(AppointmentText.due_at)
            .limit(limit)
        )
    )


def _worker(factory: sessionmaker[Session], start: threading.Barrier, errors: list[str]) -> None:
    start.wait()
    idle = 0
    while idle < 3:
        try:
            with transaction(factory) as s:
                report = run_round(s, NOW, limit=7)
        except OperationalError as err:  # a deadlock or lock timeout: the round is retried
            errors.append(f"retried: {type(err.orig).__name__}")
            continue
        idle = idle + 1 if report.seen == 0 else 0


def _mover(
    factory: sessionmaker[Session], ids: list[int], start: threading.Barrier, errors: list[str]
) -> None:
    """Staff move every appointment by a minute while the rounds run (still due, still
    outside the margin): a text planned moves, one written but not handed is rewritten."""
    start.wait()
    for appointment_id in ids:
        try:
            with transaction(factory) as s:
                appointment = s.get(Appointment, appointment_id)
                assert appointment is not None
                appointment.starts_at = appointment.starts_at + timedelta(minutes=1)
                automation.replan(s, appointment, NOW)
        except OperationalError as err:
            errors.append(f"move retried: {type(err.orig).__name__}")


@pytest.mark.parametrize("lock", ["skip_locked", "no_lock"])
def test_workers_racing_over_due_texts_write_exactly_one_each(
    factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch, lock: str
) -> None:
    if lock == "no_lock":
        # Without SKIP LOCKED, rounds on PostgreSQL claim the same rows; only the conditional
        # claim and the unique index stand between them and a second text. (SQLite takes no
        # row locks either way: one writer at a time.)
        monkeypatch.setattr(automation_round, "_due_ids", _unlocked_due_ids)
    ids = _setup(factory)
    start = threading.Barrier(WORKERS + 1)
    errors: list[str] = []
    threads = [
        threading.Thread(target=_worker, args=(factory, start, errors)) for _ in range(WORKERS)
    ]
    threads.append(threading.Thread(target=_mover, args=(factory, ids, start, errors)))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in threads), "a worker did not finish"

    with factory() as s:
        messages: list[Any] = list(
            s.execute(
                select(Message.id, Message.appointment_id, Message.rule_id).where(
                    Message.appointment_id.in_(ids)
                )
            )
        )
        texts = list(
            s.scalars(select(AppointmentText).where(AppointmentText.appointment_id.in_(ids)))
        )
    pairs = Counter((m.appointment_id, m.rule_id) for m in messages)
    assert len(texts) == 2 * APPOINTMENTS
    assert max(pairs.values()) == 1, [p for p, n in pairs.items() if n > 1]
    assert len(pairs) == 2 * APPOINTMENTS, {t.state for t in texts}
    by_pair = {(m.appointment_id, m.rule_id): m.id for m in messages}
    for text in texts:
        assert text.state == "queued", (text.state, text.reason)
        assert text.message_id == by_pair[(text.appointment_id, text.rule_id)]
