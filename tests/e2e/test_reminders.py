"""Reminders and confirmations through the real system: each goes out once, at its time.

A real ``clinictext serve --no-dispatch`` (API, webhooks and the carrier simulator) and two
``clinictext worker`` processes share the database, on SQLite and on PostgreSQL, as a
scaled-out install does. Rules are made through the API with an offset of two minutes, and
appointments booked to start a little over two minutes from now, so their texts fall due
within seconds. The patients' time zone is chosen so that the real current time is inside
the send window there.

One appointment is texted as booked, one is moved (its texts re-planned for the new time)
and one is canceled (nothing is sent); the carrier's own record must show exactly one text
per appointment and rule, and a "C" reply confirms the appointment.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from clinictext.domain.templates import appt_time
from tests.e2e.harness import (
    CLINICTEXT,
    Clinic,
    Number,
    Patient,
    Server,
    empty_postgres,
    fresh_phone,
    fresh_sender,
    running_server,
    sqlite_url,
    stop,
    wait_until,
)

pytestmark = pytest.mark.timeout(300)

WAIT = 120.0
ORG_TZ = "America/New_York"  # the clinic's zone: the texts give the time in it
ZONES = (
    "America/Los_Angeles",
    "America/Chicago",
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Honolulu",
)


def zone_inside_window() -> str:
    """A zone where it is now between 09:00 and 19:00, well inside 08:00–21:00."""
    now = datetime.now(UTC)
    for zone in ZONES:
        if 9 <= now.astimezone(ZoneInfo(zone)).hour < 19:
            return zone
    raise AssertionError("every hour of the day is between 09:00 and 19:00 somewhere listed")


@pytest.fixture(params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Server]:
    monkeypatch.setenv("CLINICTEXT_AUTOMATION_INTERVAL_SECONDS", "0.5")
    monkeypatch.setenv("CLINICTEXT_LOG_LEVEL", "WARNING")
    if request.param == "sqlite":
        url = sqlite_url(tmp_path)
    else:
        url = request.getfixturevalue("pg_template_url")
        empty_postgres(url)
    with running_server(url, tmp_path, serve_args=["--no-dispatch"]) as s:
        workers = []
        try:
            for n in range(2):
                log = (tmp_path / f"worker{n}.log").open("wb")
                workers.append(
                    subprocess.Popen(
                        [CLINICTEXT, "worker"], env=s.env, stdout=log, stderr=subprocess.STDOUT
                    )
                )
            yield s
        finally:
            for worker in workers:
                stop(worker)


def patient(clinic: Clinic, zone: str) -> Patient:
    body = {"first_name": "Ana", "last_name": "Diaz", "phone": fresh_phone(), "timezone": zone}
    data = clinic.post("/patients", body, expect=201).json()
    clinic.post(
        f"/patients/{data['id']}/consent",
        {"action": "opt_in", "level": "informational", "source": "web_form"},
        expect=201,
    )
    return Patient(int(data["id"]), data["phone"])


def book(clinic: Clinic, who: Patient, starts_at: datetime) -> dict[str, Any]:
    answer: dict[str, Any] = clinic.post(
        "/appointments",
        {"patient_id": who.id, "starts_at": starts_at.isoformat()},
        expect=201,
    ).json()
    return answer


def soon(seconds: int) -> datetime:
    """Two minutes and ``seconds`` from now: a two-minute rule's text is due in ``seconds``."""
    return (datetime.now(UTC) + timedelta(minutes=2, seconds=seconds)).replace(microsecond=0)


def settled(clinic: Clinic, appointment_id: int, wanted: set[str]) -> dict[str, Any] | None:
    """The appointment once every text is in one of ``wanted`` (states or message statuses)."""
    data: dict[str, Any] = clinic.get(f"/appointments/{appointment_id}")
    states = {t["message_status"] or t["state"] for t in data["texts"]}
    return data if data["texts"] and states <= wanted else None


def test_reminders_and_confirmations_go_out_once_each_through_two_workers(
    server: Server,
) -> None:
    sender = fresh_sender()
    clinic = server.new_clinic("Reminder Clinic", [Number(sender)])
    clinic.call(
        "PATCH",
        "/org",
        {
            "timezone": ORG_TZ,
            "clinic_phone": "+14155550100",
            # A reminder and a confirmation of one appointment go out together.
            "automated_daily_cap": 5,
        },
        expect=200,
    )
    zone = zone_inside_window()
    booked, moved, canceled = (patient(clinic, zone) for _ in range(3))
    for purpose, body in (
        ("reminder", "Reminder: [FName], see you [ApptDate] at [ApptTime]."),
        ("confirmation", "Please confirm [ApptDate] at [ApptTime]: reply [ConfirmCode]."),
    ):
        template = clinic.post(
            "/templates", {"name": purpose, "purpose": purpose, "body": body}, expect=201
        ).json()
        clinic.post(
            "/rules",
            {
                "name": f"{purpose} two minutes before",
                "purpose": purpose,
                "minutes_before": 2,
                "do_not_send_within_minutes": 0,
                "template_id": template["id"],
            },
            expect=201,
        )

    first = book(clinic, booked, soon(8))
    later = book(clinic, moved, datetime.now(UTC) + timedelta(days=3))
    new_start = soon(12)
    clinic.call(
        "PATCH", f"/appointments/{later['id']}", {"starts_at": new_start.isoformat()}, expect=200
    )
    dropped = book(clinic, canceled, soon(10))
    clinic.call("PATCH", f"/appointments/{dropped['id']}", {"status": "canceled"}, expect=200)

    for appointment in (first, later):
        wait_until(
            lambda a=appointment: settled(clinic, a["id"], {"delivered"}),
            WAIT,
            f"appointment {appointment['id']}'s texts to be delivered",
            lambda a=appointment: clinic.get(f"/appointments/{a['id']}")["texts"],
        )
    gone = settled(clinic, dropped["id"], {"canceled"})
    assert gone is not None, clinic.get(f"/appointments/{dropped['id']}")

    # The carrier's own record: one text per appointment and rule, none for the canceled one.
    to_booked = server.carrier_messages(booked.phone)
    to_moved = server.carrier_messages(moved.phone)
    assert len(to_booked) == 2, to_booked
    assert len(to_moved) == 2, to_moved
    assert server.carrier_messages(canceled.phone) == []
    new_time = appt_time(new_start.astimezone(ZoneInfo(ORG_TZ)))
    assert all(new_time in m["body"] for m in to_moved), (new_time, to_moved)
    code = first["confirm_code"]
    assert sorted(m["body"].startswith("Reminder:") for m in to_booked) == [False, True]
    assert any(m["body"].endswith(f"reply {code}.") for m in to_booked)

    # A "C" reply confirms the booked appointment.
    server.sim("/inbound", {"from": booked.phone, "to": sender, "body": "C"})
    wait_until(
        lambda: clinic.get(f"/appointments/{first['id']}")["status"] == "confirmed",
        WAIT,
        "the appointment to be confirmed by the reply",
    )
