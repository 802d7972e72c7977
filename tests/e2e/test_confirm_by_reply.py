"""Confirm by reply over real HTTP (SPEC §4): a patient's text, injected at the carrier
simulator, reaches clinictext as a signed webhook; the appointment is confirmed and the
thank-you goes out through the dispatcher to the carrier, exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.harness import (
    Clinic,
    Number,
    Patient,
    Server,
    fresh_sender,
    sqlite_server,
    wait_until,
)

NEW_YORK = ZoneInfo("America/New_York")  # the organization's default time zone
CLINIC_PHONE = "+14155550190"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with sqlite_server(tmp_path_factory, "confirm-by-reply") as s:
        yield s


@pytest.fixture(scope="module")
def clinic_number() -> str:
    return fresh_sender()


@pytest.fixture(scope="module")
def clinic(server: Server, clinic_number: str) -> Clinic:
    clinic = server.new_clinic("Bright Smiles", [Number(clinic_number, mps=10)])
    clinic.call("PATCH", "/org", {"clinic_phone": CLINIC_PHONE}, expect=200)
    return clinic


def three_days_ahead_at_3_30_pm() -> datetime:
    day = (datetime.now(NEW_YORK) + timedelta(days=3)).date()
    return datetime(day.year, day.month, day.day, 15, 30, tzinfo=NEW_YORK)


def book(clinic: Clinic, patient: Patient, start: datetime) -> dict[str, Any]:
    answer = clinic.post(
        "/appointments", {"patient_id": patient.id, "starts_at": start.isoformat()}, expect=201
    )
    data: dict[str, Any] = answer.json()
    return data


def text_in(server: Server, patient: Patient, to: str, body: str) -> None:
    """The patient texts ``to``; returns once clinictext answered the signed webhook."""
    answer = server.sim("/inbound", {"from": patient.phone, "to": to, "body": body})
    assert answer["status"] == 200, answer


def carrier_bodies(server: Server, patient: Patient) -> list[str]:
    """What the carrier accepted for the patient's phone (clinictext's texts to them)."""
    return [m["body"] for m in server.carrier_messages(to=patient.phone)]


def outbound(clinic: Clinic, patient: Patient) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = clinic.get(
        "/messages", patient_id=patient.id, direction="outbound"
    )
    return rows


def test_c_confirms_and_the_patient_gets_one_thank_you_with_the_date_and_time(
    server: Server, clinic: Clinic, clinic_number: str
) -> None:
    patient = clinic.patient()
    start = three_days_ahead_at_3_30_pm()
    appointment = book(clinic, patient, start)
    assert appointment["status"] == "scheduled"

    text_in(server, patient, clinic_number, " c. ")

    confirmed = clinic.get(f"/appointments/{appointment['id']}")
    assert (confirmed["status"], confirmed["confirmed_via"]) == ("confirmed", "reply")
    assert confirmed["confirmed_at"] is not None
    [reply] = outbound(clinic, patient)
    assert reply["kind"] == "auto_reply"
    clinic.wait_for(reply["id"], {"delivered"})
    when = f"{start:%a}, {start:%b} {start.day} at 3:30 PM"
    bodies = wait_until(
        lambda: carrier_bodies(server, patient),
        20,
        "the thank-you at the carrier",
        lambda: carrier_bodies(server, patient),
    )
    assert bodies == [f"Bright Smiles: Thank you! Your appointment on {when} is confirmed."]
    # The patient's own text stays in the conversation, unread, for staff to see.
    assert clinic.get(f"/patients/{patient.id}")["unread_count"] == 1
    audit = clinic.get("/audit", entity="appointment", entity_id=appointment["id"])
    assert "appointment.confirmed" in [e["action"] for e in audit]


def test_a_wrong_code_gets_the_please_call_answer(
    server: Server, clinic: Clinic, clinic_number: str
) -> None:
    patient = clinic.patient()
    appointment = book(clinic, patient, three_days_ahead_at_3_30_pm())
    wrong = "AC37RK" if appointment["confirm_code"] != "AC37RK" else "AC37RM"

    text_in(server, patient, clinic_number, wrong)

    assert clinic.get(f"/appointments/{appointment['id']}")["status"] == "scheduled"
    [reply] = outbound(clinic, patient)
    clinic.wait_for(reply["id"], {"delivered"})
    assert carrier_bodies(server, patient) == [
        "Bright Smiles: We could not match that to an appointment. Please call (415) 555-0190."
    ]


def test_the_code_itself_confirms_its_appointment(
    server: Server, clinic: Clinic, clinic_number: str
) -> None:
    patient = clinic.patient()
    first = book(clinic, patient, three_days_ahead_at_3_30_pm())
    later = book(clinic, patient, three_days_ahead_at_3_30_pm() + timedelta(days=7))
    code = later["confirm_code"]

    text_in(server, patient, clinic_number, f"{code[:3].lower()} {code[3:].lower()}")

    assert clinic.get(f"/appointments/{later['id']}")["status"] == "confirmed"
    assert clinic.get(f"/appointments/{first['id']}")["status"] == "scheduled"


def test_stop_still_wins_and_an_opted_out_patient_gets_nothing_more(
    server: Server, clinic: Clinic, clinic_number: str
) -> None:
    patient = clinic.patient()
    appointment = book(clinic, patient, three_days_ahead_at_3_30_pm())

    text_in(server, patient, clinic_number, "STOP")

    assert clinic.get(f"/appointments/{appointment['id']}")["status"] == "scheduled"
    assert clinic.get(f"/patients/{patient.id}/consent")["state"] == "opted_out"
    [opt_out] = outbound(clinic, patient)
    assert opt_out["kind"] == "keyword_reply"
    clinic.wait_for(opt_out["id"], {"delivered"})

    text_in(server, patient, clinic_number, "C")

    # The patient said they come: recorded. But an opted-out number is sent nothing.
    assert clinic.get(f"/appointments/{appointment['id']}")["status"] == "confirmed"
    assert [m["id"] for m in outbound(clinic, patient)] == [opt_out["id"]]
    bodies = carrier_bodies(server, patient)
    assert len(bodies) == 1 and "unsubscribed" in bodies[0]
