"""Automated texts wait for the send window (patient's time) and the frequency cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker

from clinictext.domain.checklist import Channel, SendKind
from clinictext.domain.consent import ConsentAction, ConsentLevel
from clinictext.services import consent, numbers, orgs, patients, sending
from clinictext.services.errors import CannotText
from clinictext.store.db import transaction

NY = ZoneInfo("America/New_York")


def clinic(factory: sessionmaker[Session], **org_changes: Any) -> int:
    with transaction(factory) as s:
        org = orgs.create_org(s, "Clinic", actor="t", timezone="America/New_York")
        orgs.update_org(
            s,
            org.id,
            {"sms_enabled": True, "messaging_registration": "approved", **org_changes},
            "t",
        )
        numbers.add_number(s, org.id, "+15005550006", Channel.CLINIC, "long_code", 10, "t")
        return org.id


def patient(factory: sessionmaker[Session], org_id: int, phone: str, tz: str | None = None) -> int:
    with transaction(factory) as s:
        pid = patients.create_patient(
            s, org_id, first_name="A", last_name="B", phone=phone, timezone=tz, actor="t"
        ).id
        consent.record(
            s,
            org_id,
            pid,
            action=ConsentAction.OPT_IN,
            source="verbal",
            level=ConsentLevel.MARKETING,
            actor="t",
        )
        return pid


def send(
    factory: sessionmaker[Session],
    org_id: int,
    pid: int,
    now: datetime,
    kind: SendKind = SendKind.AUTOMATED,
) -> Any:
    with transaction(factory) as s:
        m = sending.send(
            s,
            org_id,
            pid,
            Channel.CLINIC,
            "Reminder: cleaning tomorrow at 9",
            actor="t",
            send_kind=kind,
            now=now,
        )
        return m.status, m.due_at


def test_automated_text_at_2230_patient_time_waits_until_0800_next_day(factory: Any) -> None:
    org_id = clinic(factory)
    pid = patient(factory, org_id, "(212) 555-0142")  # New York
    now = datetime(2026, 3, 10, 22, 30, tzinfo=NY)
    status, due = send(factory, org_id, pid, now.astimezone(UTC))
    assert status == "scheduled"
    assert due == datetime(2026, 3, 11, 8, 0, tzinfo=NY).astimezone(UTC)


def test_staff_text_at_2230_is_not_held(factory: Any) -> None:
    org_id = clinic(factory)
    pid = patient(factory, org_id, "(212) 555-0142")
    now = datetime(2026, 3, 10, 22, 30, tzinfo=NY).astimezone(UTC)
    assert send(factory, org_id, pid, now, SendKind.MANUAL) == ("queued", now)


@pytest.mark.parametrize(("local", "held_until"), [((20, 30), (8, 0)), ((19, 59), None)])
def test_florida_numbers_get_0800_to_2000(
    factory: Any, local: tuple[int, int], held_until: tuple[int, int] | None
) -> None:
    org_id = clinic(factory)
    pid = patient(factory, org_id, "(305) 555-0142")  # Miami
    now = datetime(2026, 3, 10, *local, tzinfo=NY).astimezone(UTC)
    status, due = send(factory, org_id, pid, now)
    if held_until is None:
        assert (status, due) == ("queued", now)
    else:
        assert status == "scheduled"
        assert due == datetime(2026, 3, 11, *held_until, tzinfo=NY).astimezone(UTC)


def test_explicit_time_zone_wins_over_the_number(factory: Any) -> None:
    org_id = clinic(factory)
    pid = patient(factory, org_id, "(212) 555-0142", tz="America/Los_Angeles")
    now = datetime(2026, 3, 10, 7, 30, tzinfo=ZoneInfo("America/Los_Angeles")).astimezone(UTC)
    status, due = send(factory, org_id, pid, now)
    assert status == "scheduled"
    assert due == datetime(2026, 3, 10, 8, 0, tzinfo=ZoneInfo("America/Los_Angeles"))


def test_second_automated_text_of_the_day_is_deferred_not_dropped(factory: Any) -> None:
    org_id = clinic(factory)
    pid = patient(factory, org_id, "(212) 555-0142")
    first_at = datetime(2026, 3, 10, 10, 0, tzinfo=NY).astimezone(UTC)
    assert send(factory, org_id, pid, first_at) == ("queued", first_at)
    status, due = send(factory, org_id, pid, first_at + timedelta(hours=1))
    assert status == "scheduled"
    assert due == first_at + timedelta(days=1)


def test_weekly_cap_defers_the_fourth_text_of_the_week(factory: Any) -> None:
    org_id = clinic(factory)
    pid = patient(factory, org_id, "(212) 555-0142")
    monday = datetime(2026, 3, 9, 10, 0, tzinfo=NY).astimezone(UTC)
    for day in range(3):
        assert send(factory, org_id, pid, monday + timedelta(days=day))[0] == "queued"
    status, due = send(factory, org_id, pid, monday + timedelta(days=3))
    assert status == "scheduled"
    assert due == monday + timedelta(days=7)


def test_spend_limit_blocks_manual_texts_and_not_automated_ones(factory: Any) -> None:
    org_id = clinic(factory, manual_spend_limit_cents=0)
    pid = patient(factory, org_id, "(212) 555-0142")
    now = datetime(2026, 3, 10, 10, 0, tzinfo=NY).astimezone(UTC)
    with pytest.raises(CannotText) as refused:
        send(factory, org_id, pid, now, SendKind.MANUAL)
    assert [c.id for c in refused.value.extra["checks"] if not c.ok] == ["spend_limit"]
    assert send(factory, org_id, pid, now) == ("queued", now)


def test_a_send_window_saved_before_strict_checks_refuses_automated_texts_with_a_fix(
    factory: Any,
) -> None:
    """A window like "+8:00" (accepted by older versions) is a 422 that says what to do."""
    from sqlalchemy import update

    from clinictext.domain.checklist import Channel, SendKind
    from clinictext.services import sending
    from clinictext.services.errors import Invalid
    from clinictext.store.db import transaction
    from clinictext.store.models import Organization
    from tests.support import seed_clinic

    seeded = seed_clinic(factory)
    with transaction(factory) as s:
        s.execute(update(Organization).values(send_window_start="+8:00"))
    with transaction(factory) as s, pytest.raises(Invalid) as refused:
        sending.send(
            s,
            seeded.org_id,
            seeded.patient_ids[0],
            Channel.CLINIC,
            "Reminder",
            actor="t",
            send_kind=SendKind.AUTOMATED,
        )
    assert refused.value.code == "invalid_send_window"
    assert "send window" in refused.value.message
