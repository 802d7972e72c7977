"""This month's manual spend, read from running totals, equals the sum over every text.

The totals are kept by database triggers; these tests drive random sequences of sends,
cancels, failures, retries, bulk updates, moved texts and time-zone changes on both
databases, and after each step compare the totals with the full scan they replace.
"""

from __future__ import annotations

import contextlib
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, delete, insert, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from clinictext.domain.checklist import Channel, SendKind
from clinictext.domain.statuses import Status
from clinictext.services import cancel, orgs, sending, setup
from clinictext.services.eligibility import manual_spend_micros, manual_spend_scan, month_start
from clinictext.store.db import make_engine, session_factory, transaction, upgrade
from clinictext.store.models import ManualSpend, Message, Organization
from tests.pg import PostgresServer
from tests.support import seed_clinic

# Zones whose midnight falls on the hour, the half hour and the quarter hour, and ones
# with daylight saving time on either hemisphere.
ZONES = (
    "America/New_York",
    "America/St_Johns",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Eucla",
    "Pacific/Chatham",
    "Australia/Sydney",
    "UTC",
)
KINDS = ("manual", "lead", "automated", "campaign", "keyword_reply", "auto_reply")
STATUSES = tuple(s.value for s in Status)
BASE = datetime(2026, 3, 1, tzinfo=UTC)
TRIGGERS = {
    "tr_messages_manual_spend_insert",
    "tr_messages_manual_spend_update",
    "tr_messages_manual_spend_delete",
}


def _moment(rng: random.Random, org_tz: str) -> datetime:
    """A time within about two months of ``BASE``, often right at a local month's start."""
    at = BASE + timedelta(
        seconds=rng.randrange(-70 * 86400, 70 * 86400), microseconds=rng.randrange(10**6)
    )
    if rng.random() < 0.3:
        start = month_start(Organization(timezone=org_tz), at)
        at = start + timedelta(microseconds=rng.choice((-1, 0, 1)))
    return at


def _insert(
    session: Session, org_id: int, patient_id: int, rng: random.Random, at: datetime
) -> int:
    """A text written as a bulk insert would write it, of any kind, direction and status."""
    direction = rng.choice(("outbound", "outbound", "outbound", "inbound"))
    return int(
        session.scalars(
            insert(Message)
            .values(
                organization_id=org_id,
                patient_id=patient_id,
                direction=direction,
                kind=rng.choice(KINDS),
                channel="clinic",
                lane=0,
                body="x",
                encoding="GSM-7",
                segments=1,
                cost_micros=rng.randrange(0, 50_000),
                to_phone="+14155550123",
                status=rng.choice(STATUSES),
                attempts=0,
                created_by="t",
                created_at=at,
                updated_at=at,
            )
            .returning(Message.id)
        ).one()
    )


def _assert_totals_match(session: Session, org_id: int, nows: list[datetime]) -> None:
    org = session.get(Organization, org_id, populate_existing=True)
    assert org is not None
    for now in nows:
        assert manual_spend_micros(session, org, now) == manual_spend_scan(session, org, now), (
            org.timezone,
            now,
        )


def _step(
    factory: sessionmaker[Session],
    rng: random.Random,
    org_id: int,
    patient_ids: list[int],
    inserted: list[int],
) -> None:
    with transaction(factory) as s:
        org = s.get(Organization, org_id)
        assert org is not None
        ids = list(s.scalars(select(Message.id).where(Message.organization_id == org_id)))
        action = rng.choice(
            ("send", "send", "insert", "cancel", "bulk", "orm", "cost", "move", "tz", "delete")
        )
        if action == "send" or not ids:
            body = "x" * rng.choice((5, 200, 400))
            kind = rng.choice((SendKind.MANUAL, SendKind.MANUAL, SendKind.AUTOMATED))
            sending.send(
                s,
                org_id,
                rng.choice(patient_ids),
                Channel.CLINIC,
                body,
                actor="t",
                send_kind=kind,
                now=_moment(rng, org.timezone),
            )
        elif action == "insert":
            at = _moment(rng, org.timezone)
            inserted.append(_insert(s, org_id, rng.choice(patient_ids), rng, at))
        elif action == "cancel":
            with contextlib.suppress(cancel.NotCancelable):
                cancel.cancel(s, org_id, rng.choice(ids), actor="t", now=BASE)
        elif action == "bulk":  # the dispatcher's and campaigns' bulk UPDATEs
            chosen = rng.sample(ids, min(len(ids), rng.randrange(1, 6)))
            s.execute(
                update(Message)
                .where(Message.id.in_(chosen))
                .values(status=rng.choice(STATUSES), updated_at=BASE)
            )
        elif action == "orm":  # a retry puts a failed text back in the queue, and so on
            message = s.get(Message, rng.choice(ids))
            assert message is not None
            message.status = rng.choice(STATUSES)
        elif action == "cost":
            s.execute(
                update(Message)
                .where(Message.id == rng.choice(ids))
                .values(cost_micros=rng.randrange(0, 50_000))
            )
        elif action == "move":  # across a month's start, or into another month
            s.execute(
                update(Message)
                .where(Message.id == rng.choice(ids))
                .values(created_at=_moment(rng, org.timezone))
            )
        elif action == "tz":
            orgs.update_org(s, org_id, {"timezone": rng.choice(ZONES)}, "t")
        elif action == "delete" and inserted:
            s.execute(delete(Message).where(Message.id == inserted.pop()))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_running_total_equals_the_full_scan_after_random_sends_cancels_and_failures(
    factory: sessionmaker[Session], seed: int
) -> None:
    rng = random.Random(seed)
    clinics = [
        seed_clinic(
            factory,
            patient_count=2,
            name=f"Clinic {n}",
            senders=(f"+1415555020{n}",),
            first_phone=14155550300 + 10 * n,
        )
        for n in range(2)
    ]
    inserted: dict[int, list[int]] = {c.org_id: [] for c in clinics}
    for _ in range(70):
        clinic = rng.choice(clinics)
        _step(factory, rng, clinic.org_id, clinic.patient_ids, inserted[clinic.org_id])
        with factory() as s:
            for c in clinics:
                org = s.get(Organization, c.org_id)
                assert org is not None
                nows = [_moment(rng, org.timezone) for _ in range(2)]
                _assert_totals_match(s, c.org_id, nows)
    with factory() as s:
        for c in clinics:
            facts = setup.setup_facts(s, c.org_id, BASE)
            org = s.get(Organization, c.org_id)
            assert org is not None
            assert facts.month_spend_micros == manual_spend_scan(s, org, BASE)


def test_month_starting_off_the_quarter_hour_adds_its_first_minutes_from_the_texts(
    factory: sessionmaker[Session],
) -> None:
    # Until 1906 Indian clocks ran at +5:21:10 (Madras time): a month began at hh:38:50 UTC.
    clinic = seed_clinic(factory)
    now = datetime(1890, 6, 15, tzinfo=UTC)
    with transaction(factory) as s:
        orgs.update_org(s, clinic.org_id, {"timezone": "Asia/Kolkata"}, "t")
        org = s.get(Organization, clinic.org_id)
        assert org is not None
        start = month_start(org, now)
        assert start.timestamp() % 900 != 0
        pid = clinic.patient_ids[0]
        costs = {-1: 1, 0: 10, 5 * 60: 100, 20 * 60: 1000, -40 * 60: 10000}
        for offset, cost in costs.items():
            sent = sending.send(
                s,
                clinic.org_id,
                pid,
                Channel.CLINIC,
                "x",
                actor="t",
                now=start + timedelta(seconds=offset),
            )
            sent.cost_micros = cost
    with factory() as s:
        org = s.get(Organization, clinic.org_id)
        assert org is not None
        assert manual_spend_micros(s, org, now) == 1110 == manual_spend_scan(s, org, now)


def test_the_totals_are_kept_by_triggers_on_messages(engine: Engine) -> None:
    # A later rebuild of the messages table (SQLite batch mode) would drop them silently.
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            found = conn.scalars(
                text(
                    "SELECT name FROM sqlite_master "
                    "WHERE type = 'trigger' AND tbl_name = 'messages'"
                )
            )
        else:
            found = conn.scalars(
                text(
                    "SELECT tgname FROM pg_trigger "
                    "WHERE tgrelid = 'messages'::regclass AND NOT tgisinternal"
                )
            )
        assert set(found) >= TRIGGERS


@pytest.fixture
def own_db_url(request: pytest.FixtureRequest, tmp_path: Any, db_url: str) -> Iterator[str]:
    """A migrated database of this test's own, which it may migrate down and up again."""
    if db_url.startswith("sqlite"):
        yield db_url  # already a copy for this test
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = f"spend_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = server.url(name)
    upgrade(url)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


def test_upgrade_fills_the_totals_from_the_texts_already_stored(own_db_url: str) -> None:
    from alembic import command

    from clinictext.store.db import alembic_config

    engine = make_engine(own_db_url)
    factory = session_factory(engine)
    rng = random.Random(7)
    clinic = seed_clinic(factory, patient_count=2)
    for _ in range(40):
        _step(factory, rng, clinic.org_id, clinic.patient_ids, [])
    nows = [BASE + timedelta(days=d) for d in range(-70, 71, 7)]
    with factory() as s:
        org = s.get(Organization, clinic.org_id)
        assert org is not None
        before = [manual_spend_scan(s, org, now) for now in nows]
        assert any(before)
    engine.dispose()

    command.downgrade(alembic_config(own_db_url), "0006")
    upgrade(own_db_url)

    engine = make_engine(own_db_url)
    with session_factory(engine)() as s:
        org = s.get(Organization, clinic.org_id)
        assert org is not None
        assert s.scalar(select(ManualSpend.micros).limit(1)) is not None
        assert [manual_spend_micros(s, org, now) for now in nows] == before
    engine.dispose()
