"""Twilio's test numbers and the simulator's personas, end to end: each ends in the right
status, error code, diagnosis and side effect on the patient's record.

Test numbers are refused by the (simulated) provider's REST API, so the text is ``failed``;
personas are accepted and end ``undelivered`` through a signed status callback, except
``carrier_opt_out``, which the provider refuses like +15005550004.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.harness import (
    FINAL,
    Clinic,
    Number,
    Patient,
    Server,
    assert_history_forward_only,
    sqlite_server,
    statuses,
    wait_until,
)

EDIT_PHONE = "Edit the patient's wireless phone"
LINK_BODY = "Book your next visit at https://example-clinic.com/book today!"
PLAIN_BODY = "Book your next visit by calling the front desk today!"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with sqlite_server(tmp_path_factory, "outcomes") as s:
        yield s


@pytest.fixture(scope="module")
def clinic(server: Server) -> Clinic:
    return server.new_clinic("Outcomes Clinic", [Number("+15005550006", mps=10)])


@pytest.fixture(autouse=True)
def _fresh_simulator(server: Server) -> None:
    server.reset_simulator()


@dataclass
class Outcome:
    message: dict[str, Any]
    patient: dict[str, Any]
    consent: dict[str, Any]
    checks: dict[str, dict[str, Any]]


def _send_and_settle(
    clinic: Clinic, body: str, phone: str | None = None, persona: str | None = None
) -> tuple[Patient, Outcome]:
    patient = clinic.patient(phone)
    if persona is not None:
        clinic.server.sim(f"/numbers/{patient.phone}", {"persona": persona})
    message_id = clinic.send(patient, body)
    message = clinic.wait_for(message_id, FINAL)
    can_text = clinic.get(f"/patients/{patient.id}/can-text", channel="clinic")
    return patient, Outcome(
        message=message,
        patient=clinic.get(f"/patients/{patient.id}"),
        consent=clinic.get(f"/patients/{patient.id}/consent"),
        checks={c["id"]: c for c in can_text["checks"]},
    )


def _assert_failed(out: Outcome, status: str, code: str) -> None:
    m = out.message
    assert (m["status"], m["error_code"]) == (status, code), m
    assert m["label"] == "Failed"
    assert m["diagnosis"] is not None, m
    assert statuses(m)[-1] == status


def _assert_phone_flagged(out: Outcome, phone_status: str, code: str) -> None:
    assert out.patient["phone_status"] == phone_status, out.patient
    assert code in out.patient["phone_reason"], out.patient
    phone = out.checks["phone"]
    assert phone["ok"] is False, phone
    assert EDIT_PHONE in phone["fix"], phone
    diagnosis = out.message["diagnosis"]
    assert "invalid or a landline" in diagnosis["summary"], diagnosis
    assert code in diagnosis["summary"], diagnosis
    assert EDIT_PHONE in diagnosis["fix"], diagnosis
    assert out.consent["state"] == "opted_in"


def _assert_carrier_opt_out(out: Outcome) -> None:
    assert out.consent["state"] == "opted_out", out.consent
    last = out.consent["history"][-1]
    assert (last["action"], last["source"]) == ("opt_out", "carrier"), last
    assert out.checks["consent"]["ok"] is False
    assert "START" in out.checks["consent"]["fix"]
    diagnosis = out.message["diagnosis"]
    assert "opted out at the carrier" in diagnosis["summary"], diagnosis
    assert "consent has been updated to opted out" in diagnosis["summary"], diagnosis
    assert out.patient["phone_status"] == "valid"


def _assert_patient_untouched(out: Outcome) -> None:
    assert out.patient["phone_status"] == "valid", out.patient
    assert out.consent["state"] == "opted_in", out.consent
    assert all(c["ok"] for c in out.checks.values()), out.checks


# --- Twilio's test numbers: refused by the provider's REST API --------------------------------


def test_invalid_test_number_fails_21211_and_flags_the_phone_invalid(clinic: Clinic) -> None:
    _, out = _send_and_settle(clinic, "Your appointment is tomorrow.", phone="+15005550001")
    _assert_failed(out, "failed", "21211")
    assert statuses(out.message) == ["queued", "sending", "failed"]
    assert [a["http_status"] for a in out.message["attempts"]] == [400]
    _assert_phone_flagged(out, "invalid", "21211")


def test_unsubscribed_test_number_fails_21610_and_records_a_carrier_opt_out(
    clinic: Clinic,
) -> None:
    _, out = _send_and_settle(clinic, "Your appointment is tomorrow.", phone="+15005550004")
    _assert_failed(out, "failed", "21610")
    _assert_carrier_opt_out(out)


def test_not_mobile_test_number_fails_21614_and_flags_the_phone_landline(clinic: Clinic) -> None:
    _, out = _send_and_settle(clinic, "Your appointment is tomorrow.", phone="+15005550009")
    _assert_failed(out, "failed", "21614")
    _assert_phone_flagged(out, "landline", "21614")


# --- personas: accepted, then a signed status callback says what became of it -----------------


def test_landline_persona_ends_undelivered_30006_and_flags_the_phone_landline(
    clinic: Clinic,
) -> None:
    _, out = _send_and_settle(clinic, "Your appointment is tomorrow.", persona="landline")
    _assert_failed(out, "undelivered", "30006")
    assert statuses(out.message) == ["queued", "sending", "sent", "undelivered"]
    _assert_phone_flagged(out, "landline", "30006")


def test_unknown_persona_ends_undelivered_30005_and_flags_the_phone_invalid(
    clinic: Clinic,
) -> None:
    _, out = _send_and_settle(clinic, "Your appointment is tomorrow.", persona="unknown")
    _assert_failed(out, "undelivered", "30005")
    _assert_phone_flagged(out, "invalid", "30005")


def test_unreachable_persona_30003_is_retried_with_backoff_and_says_so(clinic: Clinic) -> None:
    """30003 (handset unreachable) is transient: the text is sent again after a backoff, the
    earlier attempt's late callbacks change nothing, and the diagnosis says when it retries."""
    patient = clinic.patient(None)
    clinic.server.sim(f"/numbers/{patient.phone}", {"persona": "unreachable"})
    message_id = clinic.send(patient, "Your appointment is tomorrow.")

    def retried_twice() -> dict[str, Any] | None:
        m = clinic.get(f"/messages/{message_id}")
        retries = [h for h in m["history"] if h["status"] == "queued" and h["detail"]]
        return m if len(retries) >= 2 else None

    message = wait_until(retried_twice, 30, "two retries of an unreachable handset")
    retries = [h for h in message["history"] if h["status"] == "queued" and h["detail"]]
    assert all("30003" in h["detail"] and "retrying in" in h["detail"] for h in retries)
    # Each retry reads as a new attempt, never as the status going backwards.
    assert [h["attempt"] for h in retries] == list(range(2, len(retries) + 2))
    assert_history_forward_only(message)
    assert len(clinic.server.carrier_messages(to=patient.phone)) >= 2
    assert message["label"] == "Pending"
    current = clinic.get(f"/messages/{message_id}")
    if current["status"] == "queued":
        assert current["diagnosis"]["summary"].startswith("Pending: retrying at"), current
        assert "unreachable" in current["diagnosis"]["summary"]
    after = clinic.get(f"/patients/{patient.id}")
    assert after["phone_status"] == "valid"  # unreachable is not a bad number


def test_spam_filter_persona_filters_a_text_with_a_link_30007_and_says_remove_links(
    clinic: Clinic,
) -> None:
    _, out = _send_and_settle(clinic, LINK_BODY, persona="spam_filter")
    _assert_failed(out, "undelivered", "30007")
    diagnosis = out.message["diagnosis"]
    assert "spam" in diagnosis["summary"], diagnosis
    assert "Remove links" in diagnosis["fix"], diagnosis
    _assert_patient_untouched(out)


def test_spam_filter_persona_delivers_a_text_without_a_link(clinic: Clinic) -> None:
    _, out = _send_and_settle(clinic, PLAIN_BODY, persona="spam_filter")
    assert out.message["status"] == "delivered", out.message
    assert out.message["label"] == "Delivered"
    assert out.message["diagnosis"] is None
    _assert_patient_untouched(out)


def test_carrier_opt_out_persona_fails_21610_and_records_a_carrier_opt_out(
    clinic: Clinic,
) -> None:
    patient, out = _send_and_settle(
        clinic, "Your appointment is tomorrow.", persona="carrier_opt_out"
    )
    _assert_failed(out, "failed", "21610")
    _assert_carrier_opt_out(out)
    assert clinic.server.carrier_messages(to=patient.phone) == []
    refused = clinic.post(
        "/messages", {"patient_id": patient.id, "channel": "clinic", "body": "Again?"}, expect=422
    )
    failed = [c["id"] for c in refused.json()["error"]["checks"] if not c["ok"]]
    assert failed == ["consent"]
