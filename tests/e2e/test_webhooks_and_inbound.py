"""The Twilio webhooks over real HTTP: signatures are enforced, inbound texts are stored once
with a commlog staff cannot delete."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from tests.e2e.harness import (
    SIMULATOR_ACCOUNT_SID,
    SIMULATOR_AUTH_TOKEN,
    Clinic,
    Number,
    Patient,
    Server,
    fresh_sender,
    sqlite_server,
)

HOLD_MS = 600_000  # the longest delay the simulator allows: 10 minutes


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with sqlite_server(tmp_path_factory, "webhooks") as s:
        yield s


@pytest.fixture(scope="module")
def clinic_number() -> str:
    return fresh_sender()


@pytest.fixture(scope="module")
def clinic(server: Server, clinic_number: str) -> Clinic:
    return server.new_clinic("Webhook Clinic", [Number(clinic_number, mps=10)])


@pytest.fixture(autouse=True)
def _fresh_simulator(server: Server) -> None:
    server.reset_simulator()


def _sign(url: str, params: dict[str, str], token: str = SIMULATOR_AUTH_TOKEN) -> str:
    signature: str = RequestValidator(token).compute_signature(url, params)
    return signature


def _forgeries(url: str, params: dict[str, str]) -> dict[str, dict[str, str]]:
    """Header sets that must all be refused: none, garbage, another key, another URL."""
    return {
        "missing": {},
        "garbage": {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
        "wrong token": {"X-Twilio-Signature": _sign(url, params, "not-the-auth-token")},
        "other url": {"X-Twilio-Signature": _sign(url + "&x=1", params)},
        "other params": {"X-Twilio-Signature": _sign(url, {**params, "Body": "something else"})},
    }


def _post_form(server: Server, url: str, params: dict[str, str], headers: dict[str, str]) -> Any:
    return server.http.post(url, data=params, headers=headers)


def _inbound(clinic: Clinic, patient: Patient) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = clinic.get("/messages", patient_id=patient.id, direction="inbound")
    return rows


def _everything(clinic: Clinic) -> dict[str, Any]:
    return {
        "messages": clinic.get("/messages", limit=200),
        "patients": clinic.get("/patients", limit=200),
        "commlogs": clinic.get("/commlogs"),
    }


def test_a_status_callback_without_a_valid_signature_is_refused_403_and_changes_nothing(
    server: Server, clinic: Clinic
) -> None:
    # Hold the simulator's own callbacks back so the text stays "sent" while we forge.
    server.sim("/chaos", {"callback_delay_ms": [HOLD_MS, HOLD_MS]})
    patient = clinic.patient()
    message_id = clinic.send(patient, "Your lab results are in.")
    before = clinic.wait_for(message_id, {"sent"})
    before_patient = clinic.get(f"/patients/{patient.id}")
    url = f"{server.base}/webhooks/twilio/status?mid={message_id}"
    params = {
        "MessageSid": before["provider_id"],
        "SmsSid": before["provider_id"],
        "MessageStatus": "undelivered",
        "SmsStatus": "undelivered",
        "ErrorCode": "30006",
        "AccountSid": SIMULATOR_ACCOUNT_SID,
        "From": before["from"],
        "To": before["to"],
        "ApiVersion": "2010-04-01",
    }

    for name, headers in _forgeries(url, params).items():
        answer = _post_form(server, url, params, headers)
        assert answer.status_code == 403, (name, answer.text)
        assert answer.json()["error"]["code"] == "invalid_signature", (name, answer.text)

    assert clinic.message(message_id) == before
    assert clinic.get(f"/patients/{patient.id}") == before_patient

    # The same callback, signed with the provider's token for this URL, is applied.
    signed = _post_form(server, url, params, {"X-Twilio-Signature": _sign(url, params)})
    assert signed.status_code == 204, signed.text
    after = clinic.message(message_id)
    assert (after["status"], after["error_code"]) == ("undelivered", "30006")
    assert clinic.get(f"/patients/{patient.id}")["phone_status"] == "landline"


def test_an_inbound_text_without_a_valid_signature_is_refused_403_and_stores_nothing(
    server: Server, clinic: Clinic, clinic_number: str
) -> None:
    patient = clinic.patient()
    known_before = _everything(clinic)
    url = f"{server.base}/webhooks/twilio/sms"
    for sender in (patient.phone, "+14155550999"):  # a patient, and an unknown sender
        params = {
            "MessageSid": "SM" + "f" * 32,
            "SmsMessageSid": "SM" + "f" * 32,
            "AccountSid": SIMULATOR_ACCOUNT_SID,
            "From": sender,
            "To": clinic_number,
            "Body": "STOP",
            "NumSegments": "1",
        }
        for name, headers in _forgeries(url, params).items():
            answer = _post_form(server, url, params, headers)
            assert answer.status_code == 403, (sender, name, answer.text)
            assert answer.json()["error"]["code"] == "invalid_signature"

    assert _everything(clinic) == known_before
    assert clinic.get(f"/patients/{patient.id}/consent")["state"] == "opted_in"


def test_an_inbound_text_is_stored_once_as_received_with_a_commlog_that_cannot_be_deleted(
    server: Server, clinic: Clinic, clinic_number: str
) -> None:
    patient = clinic.patient()

    injected = server.sim(
        "/inbound", {"from": patient.phone, "to": clinic_number, "body": "Running late"}
    )
    assert injected["status"] == 200, injected
    assert "<Response" in injected["response"]
    sid = injected["sid"]

    [message] = _inbound(clinic, patient)
    assert message["body"] == "Running late"
    assert (message["status"], message["label"]) == ("received", "Received")
    assert message["direction"] == "inbound"
    assert message["provider_id"] == sid
    assert message["diagnosis"] is None
    assert clinic.message(message["id"])["label"] == "Received"

    [commlog] = [c for c in clinic.get("/commlogs", patient_id=patient.id)]
    assert commlog["message_id"] == message["id"]
    assert (commlog["direction"], commlog["deletable"]) == ("inbound", False)
    refused = clinic.call("DELETE", f"/commlogs/{commlog['id']}", expect=409)
    assert refused.json()["error"]["code"] == "commlog_not_deletable"
    assert refused.json()["error"]["message"]
    assert clinic.get("/commlogs", patient_id=patient.id) == [commlog]

    # The provider delivers the same webhook again (same MessageSid), signed: stored once.
    url = f"{server.base}/webhooks/twilio/sms"
    params = {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": "Running late",
        "FromCountry": "US",
        "To": clinic_number,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": SIMULATOR_ACCOUNT_SID,
        "From": patient.phone,
        "ApiVersion": "2010-04-01",
    }
    for _ in range(2):
        replay = _post_form(server, url, params, {"X-Twilio-Signature": _sign(url, params)})
        assert replay.status_code == 200, replay.text
        assert "<Response" in replay.text

    assert _inbound(clinic, patient) == [message]
    assert clinic.get("/commlogs", patient_id=patient.id) == [commlog]
    assert [p["id"] for p in clinic.get("/patients", phone=patient.phone)] == [patient.id]
