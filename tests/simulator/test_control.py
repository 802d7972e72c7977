"""The control API: inbound texts, sender verification and lookups, inspection, reset."""

from __future__ import annotations

import httpx
import pytest
from starlette.testclient import TestClient
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from clinictext.simulator import SimulatorSettings, create_simulator
from tests.simulator.conftest import ACCOUNT_SID, AUTH_TOKEN, SENDER, Sim
from tests.simulator.servers import TWIML


def test_inbound_posts_a_signed_webhook_and_returns_its_answer(sim: Sim) -> None:
    response = sim.post("/inbound", {"from": "+14155550101", "to": SENDER, "body": "STOP"})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["status"] == 200
    assert answer["response"] == TWIML
    [hook] = sim.receiver.requests("/sms")
    assert RequestValidator(AUTH_TOKEN).validate(hook.url, hook.params, hook.signature)
    assert hook.url == sim.settings.inbound_webhook_url
    params = hook.params
    assert params["MessageSid"] == params["SmsSid"] == params["SmsMessageSid"] == answer["sid"]
    assert answer["sid"].startswith("SM") and len(answer["sid"]) == 34
    assert params["AccountSid"] == ACCOUNT_SID
    assert (params["From"], params["To"], params["Body"]) == ("+14155550101", SENDER, "STOP")
    assert params["NumSegments"] == "1" and params["NumMedia"] == "0"
    assert params["SmsStatus"] == "received" and params["ApiVersion"] == "2010-04-01"
    [row] = sim.get("/messages")
    assert row["sid"] == answer["sid"] and row["status"] == "received"
    assert row["direction"] == "inbound"
    fetched = sim.client().messages(answer["sid"]).fetch()
    assert fetched.direction == "inbound" and fetched.body == "STOP"


def test_inbound_reports_an_unreachable_webhook(sim: Sim) -> None:
    response = sim.post(
        "/inbound",
        {"from": "+14155550101", "to": SENDER, "body": "hi", "url": "http://127.0.0.1:9/sms"},
    )
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "webhook_unreachable"


def test_inbound_without_a_webhook_url_is_a_clear_400() -> None:
    with TestClient(create_simulator(SimulatorSettings())) as client:
        response = client.post(
            "/_control/inbound", json={"from": "+14155550101", "to": SENDER, "body": "hi"}
        )
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "no_inbound_webhook" and "inbound_webhook_url" in error["message"]


def test_control_errors(sim: Sim) -> None:
    bad = [
        ("/numbers/+14155550101", {"persona": "grumpy"}, 400, "invalid_persona"),
        ("/numbers/4155550101", {"persona": "ok"}, 400, "invalid_number"),
        ("/inbound", {"from": "nope", "to": SENDER, "body": "x"}, 400, "invalid_number"),
        ("/chaos", {"duplicate_callbacks": 6}, 400, "invalid_duplicate_callbacks"),
        ("/chaos", {"callback_delay_ms": [10, 5]}, 400, "invalid_callback_delay_ms"),
        ("/chaos", {"reorder": "yes"}, 400, "invalid_reorder"),
        ("/verify", {"number": "+18005550100", "result": "maybe"}, 400, "invalid_result"),
        ("/verify", {"number": "+18005550100", "kind": "mobile"}, 400, "invalid_kind"),
        ("/nothing-here", {}, 404, "not_found"),
    ]
    for path, body, status, code in bad:
        response = sim.post(path, body)
        assert response.status_code == status, (path, response.text)
        assert response.json()["error"]["code"] == code
        assert response.json()["error"]["message"]
    response = sim.control.post("/_control/chaos", content=b"{not json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"


def test_messages_are_listed_oldest_first_with_a_to_filter(sim: Sim) -> None:
    client = sim.client()
    first = client.messages.create(to="+14155550101", from_=SENDER, body="one").sid
    second = client.messages.create(to="+14155550102", from_=SENDER, body="two").sid
    rows = sim.get("/messages")
    assert [r["sid"] for r in rows] == [first, second]
    assert set(rows[0]) >= {"sid", "to", "from", "body", "status", "error_code", "at"}
    assert rows[0]["from"] == SENDER and rows[0]["body"] == "one"
    assert [r["sid"] for r in sim.get("/messages", to="+14155550102")] == [second]


def test_toll_free_sender_verification(sim: Sim) -> None:
    number = "+18005550100"
    client = sim.client()
    registered = sim.post(f"/senders/{number}", {}).json()
    assert registered["kind"] == "toll_free" and registered["verification"] == "pending"

    with pytest.raises(TwilioRestException) as err:
        client.messages.create(to="+14155550101", from_=number, body="Hi")
    assert err.value.code == 30032

    [incoming] = client.incoming_phone_numbers.list(phone_number=number)
    assert incoming.phone_number == number and incoming.sid == registered["sid"]
    assert incoming.sid.startswith("PN")
    [verification] = client.messaging.v1.tollfree_verifications.list(
        tollfree_phone_number_sid=incoming.sid
    )
    assert verification.status == "PENDING_REVIEW"
    assert verification.sid.startswith("HH")
    assert verification.tollfree_phone_number_sid == incoming.sid
    assert client.numbers.v2.hosted_number_orders.list(phone_number=number) == []

    verified = sim.post("/verify", {"number": number, "result": "verified"}).json()
    assert verified["verification"] == "verified"
    [verification] = client.messaging.v1.tollfree_verifications.list(
        tollfree_phone_number_sid=incoming.sid
    )
    assert verification.status == "TWILIO_APPROVED"
    fetched = client.messaging.v1.tollfree_verifications(verification.sid).fetch()
    assert fetched.status == "TWILIO_APPROVED"
    assert client.messages.create(to="+14155550101", from_=number, body="Hi").status == "queued"

    sim.post("/verify", {"number": number, "result": "failed"})
    [verification] = client.messaging.v1.tollfree_verifications.list(
        tollfree_phone_number_sid=incoming.sid
    )
    assert verification.status == "TWILIO_REJECTED"
    with pytest.raises(TwilioRestException) as err:
        client.messages.create(to="+14155550101", from_=number, body="Hi")
    assert err.value.code == 30032


def test_landline_hosted_sms_verification(sim: Sim) -> None:
    number = "+14155550188"
    client = sim.client()
    pending = sim.post("/verify", {"number": number, "result": "failed"}).json()
    assert pending["kind"] == "landline" and pending["verification"] == "failed"
    [order] = client.numbers.v2.hosted_number_orders.list(phone_number=number)
    assert order.status == "failed" and order.sid.startswith("HR")
    assert order.phone_number == number and order.incoming_phone_number_sid == pending["sid"]
    with pytest.raises(TwilioRestException) as err:
        client.messages.create(to="+14155550101", from_=number, body="Hi")
    assert err.value.code == 30032

    sim.post("/verify", {"number": number, "result": "verified"})
    [order] = client.numbers.v2.hosted_number_orders.list(phone_number=number)
    assert order.status == "completed"
    assert client.numbers.v2.hosted_number_orders(order.sid).fetch().status == "completed"
    client.messages.create(to="+14155550101", from_=number, body="Hi")
    assert client.messaging.v1.tollfree_verifications.list() == []


def test_explicit_kind_and_pending_landline(sim: Sim) -> None:
    number = "+18885550100"
    assert sim.post(f"/senders/{number}", {"kind": "landline"}).json()["kind"] == "landline"
    [order] = sim.client().numbers.v2.hosted_number_orders.list(phone_number=number)
    assert order.status == "pending-verification"


def test_ordinary_senders_need_no_verification(sim: Sim) -> None:
    client = sim.client()
    client.messages.create(to="+14155550101", from_="+18005550199", body="Hi")
    [incoming] = client.incoming_phone_numbers.list(phone_number="+18005550199")
    assert incoming.phone_number == "+18005550199"
    assert client.messaging.v1.tollfree_verifications.list() == []
    assert client.incoming_phone_numbers.list(phone_number="+19995550000") == []
    assert client.incoming_phone_numbers(incoming.sid).fetch().phone_number == "+18005550199"


def test_lookups_need_credentials(sim: Sim) -> None:
    for path in [
        f"/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json",
        "/v1/Tollfree/Verifications",
        "/v2/HostedNumber/Orders",
    ]:
        response = httpx.get(sim.url + path, auth=(ACCOUNT_SID, "wrong"))
        assert response.status_code == 401 and response.json()["code"] == 20003


def test_reset_clears_everything(sim: Sim) -> None:
    client = sim.client()
    sim.post("/numbers/+14155550101", {"persona": "landline"})
    sim.post("/chaos", {"duplicate_callbacks": 2, "reorder": True})
    sim.post("/senders/+18005550100", {})
    client.messages.create(to="+14155550101", from_=SENDER, body="Hi")
    sim.post("/outage", {"mode": "down"})
    assert sim.post("/reset").status_code == 200
    assert sim.get("/messages") == [] and sim.get("/callbacks") == []
    assert sim.get("/numbers/+14155550101")["persona"] == "ok"
    assert sim.get("/chaos")["duplicate_callbacks"] == 0 and sim.get("/chaos")["reorder"] is False
    assert sim.get("/outage")["mode"] == "up"
    assert client.incoming_phone_numbers.list() == []
    client.messages.create(to="+14155550101", from_="+18005550100", body="Hi")
