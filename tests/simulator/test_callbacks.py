"""Status callbacks: signed, Twilio's fields, personas, retries, duplicates and reordering."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

from clinictext.simulator.personas import has_link
from tests.simulator.conftest import ACCOUNT_SID, AUTH_TOKEN, SENDER, Sim
from tests.simulator.servers import Received, wait_until

VALIDATOR = RequestValidator(AUTH_TOKEN)


def statuses(requests: list[Received]) -> list[str]:
    return [r.params["MessageStatus"] for r in requests]


def assert_signed(requests: list[Received]) -> None:
    for request in requests:
        assert request.signature
        assert VALIDATOR.validate(request.url, request.params, request.signature), request


def send(sim: Sim, to: str, body: str = "See you Tuesday", callback: str | None = None) -> str:
    sid: str = (
        sim.client().messages.create(to=to, from_=SENDER, body=body, status_callback=callback).sid
    )
    return sid


def test_valid_number_gets_sent_then_delivered(sim: Sim) -> None:
    url = sim.callback_url("ok")
    sid = send(sim, "+14155550101", callback=url)
    got = sim.receiver.wait_for("/status/ok", lambda r: len(r) >= 2)
    assert statuses(got) == ["sent", "delivered"]
    assert_signed(got)
    sent, delivered = (r.params for r in got)
    assert sent == {
        "MessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "sent",
        "MessageStatus": "sent",
        "AccountSid": ACCOUNT_SID,
        "From": SENDER,
        "To": "+14155550101",
        "ApiVersion": "2010-04-01",
    }
    assert delivered["SmsStatus"] == "delivered"
    assert len(delivered["RawDlrDoneDate"]) == 10 and delivered["RawDlrDoneDate"].isdigit()
    assert "ErrorCode" not in delivered
    message = wait_until(
        lambda: sim.client().messages(sid).fetch(), lambda m: m.status == "delivered"
    )
    assert message.error_code is None
    log = sim.get("/callbacks")
    assert [(c["status"], c["http_status"], c["url"]) for c in log] == [
        ("sent", 204, url),
        ("delivered", 204, url),
    ]


def test_signature_covers_the_query_string(sim: Sim) -> None:
    url = sim.callback_url("q") + "?tenant=42&kind=a%2Bb"
    send(sim, "+14155550101", callback=url)
    got = sim.receiver.wait_for("/status/q", lambda r: len(r) >= 2)
    assert got[0].url == url
    assert_signed(got)
    assert not VALIDATOR.validate(sim.callback_url("q"), got[0].params, got[0].signature)


@pytest.mark.parametrize(
    ("persona", "body", "status", "code"),
    [
        ("ok", "Plain text", "delivered", None),
        ("landline", "Plain text", "undelivered", 30006),
        ("unreachable", "Plain text", "undelivered", 30003),
        ("unknown", "Plain text", "undelivered", 30005),
        ("spam_filter", "Book at https://clinic.example/book", "undelivered", 30007),
        ("spam_filter", "Details: bit.ly/abc", "undelivered", 30007),
        ("spam_filter", "Reply YES to confirm", "delivered", None),
    ],
)
def test_personas_end_in_their_status(
    sim: Sim, persona: str, body: str, status: str, code: int | None
) -> None:
    to = "+14155550150"
    assert sim.post(f"/numbers/{to}", {"persona": persona}).json()["persona"] == persona
    name = f"{persona}-{status}"
    sid = send(sim, to, body, callback=sim.callback_url(name))
    got = sim.receiver.wait_for(f"/status/{name}", lambda r: len(r) >= 2)
    assert statuses(got) == ["sent", status]
    assert_signed(got)
    assert got[1].params.get("ErrorCode") == (str(code) if code else None)
    message = wait_until(lambda: sim.client().messages(sid).fetch(), lambda m: m.status == status)
    assert message.error_code == code
    rows = sim.get("/messages", to=to)
    assert [(r["sid"], r["status"], r["error_code"]) for r in rows] == [(sid, status, code)]


def test_status_follows_without_a_callback(sim: Sim) -> None:
    sim.post("/numbers/+14155550160", {"persona": "unreachable"})
    sid = send(sim, "+14155550160")
    message = wait_until(
        lambda: sim.client().messages(sid).fetch(), lambda m: m.status == "undelivered"
    )
    assert message.error_code == 30003
    assert message.error_message
    assert sim.get("/callbacks") == []


def test_duplicate_callbacks(sim: Sim) -> None:
    chaos = sim.post("/chaos", {"duplicate_callbacks": 3}).json()
    assert chaos["duplicate_callbacks"] == 3 and chaos["reorder"] is False
    send(sim, "+14155550101", callback=sim.callback_url("dup"))
    got = sim.receiver.wait_for("/status/dup", lambda r: len(r) >= 8)
    assert statuses(got) == ["sent"] * 4 + ["delivered"] * 4
    assert_signed(got)
    assert len({r.headers["i-twilio-idempotency-token"] for r in got}) == 8


def test_reorder_sends_the_final_status_first(sim: Sim) -> None:
    sim.post("/chaos", {"reorder": True, "callback_delay_ms": [1, 3]})
    sid = send(sim, "+14155550101", callback=sim.callback_url("reorder"))
    got = sim.receiver.wait_for("/status/reorder", lambda r: len(r) >= 2)
    assert statuses(got) == ["delivered", "sent"]
    assert_signed(got)
    assert sim.client().messages(sid).fetch().status == "delivered"


def test_failed_callbacks_are_retried(sim: Sim) -> None:
    sim.receiver.fail("/status/flaky", 2)
    send(sim, "+14155550101", callback=sim.callback_url("flaky"))
    got = sim.receiver.wait_for("/status/flaky", lambda r: len(r) >= 4)
    assert statuses(got) == ["sent", "sent", "sent", "delivered"]
    assert_signed(got)
    tokens = {r.headers["i-twilio-idempotency-token"] for r in got[:3]}
    assert len(tokens) == 1  # the same delivery, retried
    log = sim.get("/callbacks")
    assert [(c["status"], c["http_status"], c["attempt"]) for c in log] == [
        ("sent", 500, 1),
        ("sent", 500, 2),
        ("sent", 204, 3),
        ("delivered", 204, 1),
    ]


def test_unreachable_callback_url_is_retried_then_given_up(sim: Sim) -> None:
    dead = "http://127.0.0.1:9/status"  # the discard port: nothing listens there
    sid = send(sim, "+14155550101", callback=dead)
    retries = sim.settings.callback_retries
    log = wait_until(lambda: sim.get("/callbacks"), lambda log: len(log) >= 2 * (retries + 1))
    assert [c["status"] for c in log] == ["sent"] * (retries + 1) + ["delivered"] * (retries + 1)
    assert all(c["http_status"] is None and c["error"] for c in log)
    assert sim.client().messages(sid).fetch().status == "delivered"


def test_reset_cancels_pending_callbacks(sim: Sim) -> None:
    sim.post("/chaos", {"callback_delay_ms": [60_000, 60_000]})
    send(sim, "+14155550101", callback=sim.callback_url("late"))
    assert sim.post("/reset").json() == {"reset": True}
    assert sim.get("/messages") == []
    assert sim.app.state.simulator.callbacks.pending == 0


@pytest.mark.parametrize(
    "body",
    [
        "Visit http://x.test",
        "Visit https://x.test",
        "see www.clinic",
        "go to example.com/x now",
        "example.com",
        "Our site: clinic.org.",
        "tinyurl.com/abc",
        "t.co/xyz",
        "goo.gl/1",
        "ow.ly/2",
        "is.gd/3",
        "buff.ly/4",
        "rebrand.ly/5",
        "BIT.LY/6",
    ],
)
def test_link_detection_finds_links(body: str) -> None:
    assert has_link(body)


@pytest.mark.parametrize(
    "body",
    [
        "Reply YES to confirm.",
        "Dr. Smith sees you at 3.30pm",
        "e.g. bring your card",
        "Hello.Please call",
        "Email us at front@desk",
        "Costs $12.50 total",
    ],
)
def test_link_detection_ignores_plain_text(body: str) -> None:
    assert not has_link(body)
