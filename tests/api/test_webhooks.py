"""Provider webhooks: signed like Twilio, idempotent, forward-only, with side effects."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from clinictext.providers.factory import SIMULATOR_AUTH_TOKEN
from tests.api.helpers import textable_patient
from tests.conftest import Org

PUBLIC = "http://127.0.0.1:8000"  # the default public URL the tests' app is configured with


def post_signed(
    org: Org,
    path: str,
    params: dict[str, str],
    token: str = SIMULATOR_AUTH_TOKEN,
    signature: str | None = None,
) -> Any:
    url = PUBLIC + path
    sig = RequestValidator(token).compute_signature(url, params) if signature is None else signature
    headers = {"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"}
    return org.client.post(path, content=urlencode(params), headers=headers)


def queued_message(org: Org) -> dict[str, Any]:
    pid = textable_patient(org)
    r = org.post("/messages", {"patient_id": pid, "channel": "clinic", "body": "Hi"})
    assert r.status_code == 202
    return dict(r.json())


def status_params(sid: str, status: str, code: str | None = None) -> dict[str, str]:
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": "+14155550123",
        "From": "+14155550100",
        "ApiVersion": "2010-04-01",
    }
    if code:
        params["ErrorCode"] = code
    return params


def test_callbacks_move_the_status_forward_and_are_recorded_once(ready_org: Org, rows: Any) -> None:
    m = queued_message(ready_org)
    path = f"/webhooks/twilio/status?mid={m['id']}"
    assert post_signed(ready_org, path, status_params("SM1", "sent")).status_code == 204
    assert post_signed(ready_org, path, status_params("SM1", "delivered")).status_code == 204
    before = rows()
    for status in ("delivered", "sent", "queued", "delivered"):  # duplicates and stragglers
        assert post_signed(ready_org, path, status_params("SM1", status)).status_code == 204
    assert rows() == before
    detail = ready_org.get(f"/messages/{m['id']}").json()
    assert detail["status"] == "delivered"
    assert detail["label"] == "Delivered"
    assert detail["provider_id"] == "SM1"
    assert [h["status"] for h in detail["history"]] == ["queued", "sent", "delivered"]
    assert detail["diagnosis"] is None


def test_final_status_arriving_first_is_kept(ready_org: Org) -> None:
    m = queued_message(ready_org)
    path = f"/webhooks/twilio/status?mid={m['id']}"
    post_signed(ready_org, path, status_params("SM2", "undelivered", "30006"))
    post_signed(ready_org, path, status_params("SM2", "sent"))
    detail = ready_org.get(f"/messages/{m['id']}").json()
    assert (detail["status"], detail["error_code"]) == ("undelivered", "30006")


@pytest.mark.parametrize(
    ("signature", "token"),
    [("", SIMULATOR_AUTH_TOKEN), ("forged", SIMULATOR_AUTH_TOKEN), (None, "another-token")],
)
def test_forged_or_missing_signature_is_403_and_changes_nothing(
    ready_org: Org, rows: Any, signature: str | None, token: str
) -> None:
    m = queued_message(ready_org)
    before = rows()
    for path, params in [
        (f"/webhooks/twilio/status?mid={m['id']}", status_params("SM3", "delivered")),
        (
            "/webhooks/twilio/sms",
            {"MessageSid": "SM4", "From": "+14155550123", "To": "+14155550100", "Body": "STOP"},
        ),
    ]:
        r = post_signed(ready_org, path, params, token=token, signature=signature)
        assert r.status_code == 403
        assert r.json()["error"]["code"] == "invalid_signature"
    assert rows() == before


def test_signature_covers_the_query_string(ready_org: Org, rows: Any) -> None:
    m = queued_message(ready_org)
    params = status_params("SM5", "delivered")
    url_signed = PUBLIC + f"/webhooks/twilio/status?mid={m['id']}"
    sig = RequestValidator(SIMULATOR_AUTH_TOKEN).compute_signature(url_signed, params)
    before = rows()
    r = ready_org.client.post(
        "/webhooks/twilio/status?mid=999",
        content=urlencode(params),
        headers={"X-Twilio-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 403
    assert rows() == before


def test_callback_for_an_unknown_message_is_parked_then_matched(
    ready_org: Org, factory: Any
) -> None:
    import random

    from clinictext.domain.retry import RetryPolicy
    from clinictext.services.status_updates import match_parked
    from clinictext.store.db import transaction
    from clinictext.store.models import Message, ParkedCallback

    r = post_signed(ready_org, "/webhooks/twilio/status", status_params("SM6", "delivered"))
    assert r.status_code == 204
    m = queued_message(ready_org)
    with transaction(factory) as session:
        assert session.query(ParkedCallback).count() == 1
        session.get(Message, m["id"]).provider_id = "SM6"
    with transaction(factory) as session:
        from datetime import UTC, datetime

        now = datetime.now(UTC)
        assert match_parked(session, ["SM6"], now, RetryPolicy(), random.Random(1)) == 1
    assert ready_org.get(f"/messages/{m['id']}").json()["status"] == "delivered"


def test_carrier_opt_out_code_records_the_opt_out(ready_org: Org) -> None:
    m = queued_message(ready_org)
    post_signed(
        ready_org, f"/webhooks/twilio/status?mid={m['id']}", status_params("SM7", "failed", "21610")
    )
    consent = ready_org.get(f"/patients/{m['patient_id']}/consent").json()
    assert (consent["state"], consent["source"], consent["locked_by_patient"]) == (
        "opted_out",
        "carrier",
        True,
    )
    detail = ready_org.get(f"/messages/{m['id']}").json()
    assert detail["diagnosis"]["summary"].startswith(
        "Failed: the recipient opted out at the carrier"
    )
    checks = ready_org.get(f"/patients/{m['patient_id']}/can-text").json()["checks"]
    assert [c["id"] for c in checks if not c["ok"]] == ["consent"]


@pytest.mark.parametrize(
    ("code", "flag"),
    [("21211", "invalid"), ("21614", "landline"), ("30005", "invalid"), ("30006", "landline")],
)
def test_invalid_or_landline_codes_flag_the_phone(ready_org: Org, code: str, flag: str) -> None:
    m = queued_message(ready_org)
    post_signed(
        ready_org,
        f"/webhooks/twilio/status?mid={m['id']}",
        status_params("SM8", "undelivered", code),
    )
    patient = ready_org.get(f"/patients/{m['patient_id']}").json()
    assert patient["phone_status"] == flag
    assert code in patient["phone_reason"]
    checks = ready_org.get(f"/patients/{m['patient_id']}/can-text").json()["checks"]
    phone = next(c for c in checks if c["id"] == "phone")
    assert not phone["ok"]
    assert "Edit the patient's wireless phone" in phone["fix"]


def test_inbound_text_is_stored_once_with_its_commlog(ready_org: Org, rows: Any) -> None:
    pid = textable_patient(ready_org)
    params = {
        "MessageSid": "SMin9",
        "AccountSid": "AC" + "0" * 32,
        "From": "+14155550123",
        "To": "+14155550100",
        "Body": "Running 5 min late",
        "NumSegments": "1",
    }
    r = post_signed(ready_org, "/webhooks/twilio/sms", params)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/xml")
    assert "<Response>" in r.text
    before = rows()
    assert post_signed(ready_org, "/webhooks/twilio/sms", params).status_code == 200
    assert rows() == before
    inbound = ready_org.get("/messages", params={"direction": "inbound"}).json()
    assert [(m["patient_id"], m["status"], m["label"], m["body"]) for m in inbound] == [
        (pid, "received", "Received", "Running 5 min late")
    ]
    commlogs = ready_org.get("/commlogs", params={"patient_id": pid}).json()
    assert [(c["direction"], c["deletable"]) for c in commlogs] == [("inbound", False)]


def test_inbound_from_an_unknown_number_creates_an_unknown_sender(ready_org: Org) -> None:
    params = {"MessageSid": "SMin10", "From": "+14155550999", "To": "+14155550100", "Body": "hi"}
    assert post_signed(ready_org, "/webhooks/twilio/sms", params).status_code == 200
    unknown = ready_org.get("/patients", params={"unknown_sender": "true"}).json()
    assert [(p["phone"], p["unknown_sender"]) for p in unknown] == [("+14155550999", True)]


def test_malformed_callback_is_400(ready_org: Org, rows: Any) -> None:
    before = rows()
    r = post_signed(ready_org, "/webhooks/twilio/status", {"MessageSid": "SM11"})
    assert r.status_code == 400
    r = post_signed(
        ready_org, "/webhooks/twilio/status", {"MessageSid": "SM11", "MessageStatus": "odd"}
    )
    assert r.status_code == 400
    assert rows() == before


def test_unknown_sender_is_merged_into_the_right_patient(ready_org: Org) -> None:
    pid = ready_org.post(
        "/patients", {"first_name": "Rita", "last_name": "Real", "phone": None}
    ).json()["id"]
    params = {"MessageSid": "SMin12", "From": "+14155550888", "To": "+14155550100", "Body": "hi"}
    assert post_signed(ready_org, "/webhooks/twilio/sms", params).status_code == 200
    unknown = ready_org.get("/patients", params={"unknown_sender": "true"}).json()[0]
    r = ready_org.post(f"/patients/{unknown['id']}/merge", {"into": pid})
    assert r.status_code == 200, r.text
    merged = r.json()
    assert (merged["id"], merged["phone"], merged["unread_count"]) == (pid, "+14155550888", 1)
    assert ready_org.get(f"/patients/{unknown['id']}").status_code == 404
    texts = ready_org.get(f"/patients/{pid}/messages").json()
    assert [(m["direction"], m["body"]) for m in texts] == [("inbound", "hi")]
    assert [c["patient_id"] for c in ready_org.get("/commlogs").json()] == [pid]
    audit = ready_org.get("/audit", params={"entity": "patient", "entity_id": pid}).json()
    assert "patient.merged" in [e["action"] for e in audit]
    again = ready_org.post(f"/patients/{pid}/merge", {"into": pid})
    assert again.status_code == 422
    known = ready_org.post("/patients", {"first_name": "K", "last_name": "K"}).json()["id"]
    refused = ready_org.post(f"/patients/{known}/merge", {"into": pid})
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "not_unknown_sender")
