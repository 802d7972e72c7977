"""The Twilio REST subset, driven by the official twilio-python client."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException

from tests.simulator.conftest import ACCOUNT_SID, AUTH_TOKEN, SENDER, Sim

MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


def test_create_fetch_and_list_with_the_official_client(sim: Sim) -> None:
    client = sim.client()
    created = client.messages.create(to="+14155550101", from_=SENDER, body="Hello there")
    assert re.fullmatch(r"SM[0-9a-f]{32}", created.sid)
    assert created.account_sid == ACCOUNT_SID
    assert (created.to, created.from_, created.body) == ("+14155550101", SENDER, "Hello there")
    assert created.status == "queued"
    assert created.num_segments == "1"
    assert created.num_media == "0"
    assert created.direction == "outbound-api"
    assert created.api_version == "2010-04-01"
    assert created.price is None and created.error_code is None and created.error_message is None
    assert isinstance(created.date_created, datetime)
    assert created.date_created.tzinfo is not None
    assert created.uri == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{created.sid}.json"
    assert created.subresource_uris is not None and "media" in created.subresource_uris

    fetched = client.messages(created.sid).fetch()
    assert fetched.sid == created.sid and fetched.body == "Hello there"

    listed = client.messages.list()
    assert [m.sid for m in listed] == [created.sid]


def test_raw_answer_is_shaped_like_twilio(sim: Sim) -> None:
    response = httpx.post(
        sim.url + MESSAGES,
        data={"To": "+14155550101", "From": SENDER, "Body": "x" * 161},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
    )
    assert response.status_code == 201
    body = response.json()
    assert body["num_segments"] == "2"
    assert body["status"] == "queued"
    assert body["price"] is None and body["error_code"] is None
    assert re.fullmatch(r"\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000", body["date_created"])
    assert set(body) >= {
        "sid", "account_sid", "to", "from", "body", "status", "num_segments", "num_media",
        "direction", "api_version", "date_created", "date_updated", "date_sent", "price",
        "error_code", "error_message", "uri", "subresource_uris",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("to", "code"),
    [("+15005550001", 21211), ("+15005550004", 21610), ("+15005550009", 21614), ("555", 21211)],
)
def test_magic_test_numbers_raise_twilio_errors(sim: Sim, to: str, code: int) -> None:
    with pytest.raises(TwilioRestException) as err:
        sim.client().messages.create(to=to, from_=SENDER, body="Hi")
    assert err.value.status == 400
    assert err.value.code == code
    assert sim.get("/messages") == []


def test_validation_errors(sim: Sim) -> None:
    def post(**data: str) -> httpx.Response:
        return httpx.post(sim.url + MESSAGES, data=data, auth=(ACCOUNT_SID, AUTH_TOKEN))

    cases = [
        ({"From": SENDER, "Body": "Hi"}, 21604),
        ({"To": "+14155550101", "From": SENDER}, 21602),
        ({"To": "+14155550101", "From": SENDER, "Body": ""}, 21602),
        ({"To": "+14155550101", "From": SENDER, "Body": "x" * 1601}, 21617),
        ({"To": "+14155550101", "From": "+15005550001", "Body": "Hi"}, 21212),
        ({"To": "+14155550101", "Body": "Hi"}, 21603),
    ]
    for data, code in cases:
        response = post(**data)
        assert response.status_code == 400, data
        body = response.json()
        assert body["code"] == code and body["status"] == 400
        assert body["message"] and body["more_info"].endswith(str(code))
    assert post(To="+14155550101", From=SENDER, Body="x" * 1600).status_code == 201


def test_carrier_opt_out_persona_refuses_at_create(sim: Sim) -> None:
    assert sim.post("/numbers/+14155550102", {"persona": "carrier_opt_out"}).status_code == 200
    with pytest.raises(TwilioRestException) as err:
        sim.client().messages.create(to="+14155550102", from_=SENDER, body="Hi")
    assert err.value.code == 21610


def test_authentication(sim: Sim) -> None:
    data = {"To": "+14155550101", "From": SENDER, "Body": "Hi"}
    for auth in [(ACCOUNT_SID, "wrong"), ("AC" + "2" * 32, AUTH_TOKEN), None]:
        response = httpx.post(sim.url + MESSAGES, data=data, auth=auth)
        assert response.status_code == 401
        assert response.json()["code"] == 20003
        assert response.json()["status"] == 401
        assert set(response.json()) == {"code", "message", "more_info", "status"}
    other = MESSAGES.replace(ACCOUNT_SID, "AC" + "2" * 32)
    response = httpx.post(sim.url + other, data=data, auth=(ACCOUNT_SID, AUTH_TOKEN))
    assert response.status_code == 404 and response.json()["code"] == 20404
    assert sim.get("/messages") == []


def test_unknown_message_is_404(sim: Sim) -> None:
    with pytest.raises(TwilioRestException) as err:
        sim.client().messages("SM" + "0" * 32).fetch()
    assert err.value.status == 404 and err.value.code == 20404


def test_list_filters_and_pages_newest_first(sim: Sim) -> None:
    client = sim.client()
    sids = [
        client.messages.create(to=f"+1415555020{i % 2}", from_=SENDER, body=f"n{i}").sid
        for i in range(7)
    ]
    newest_first = list(reversed(sids))
    assert [m.sid for m in client.messages.list(page_size=2)] == newest_first
    assert [m.sid for m in client.messages.stream(page_size=3)] == newest_first
    assert [m.sid for m in client.messages.list(limit=3, page_size=2)] == newest_first[:3]
    to_one = [m.sid for m in client.messages.list(to="+14155550201", page_size=2)]
    assert to_one == [s for i, s in reversed(list(enumerate(sids))) if i % 2 == 1]
    assert client.messages.list(from_="+14155559999") == []

    page = client.messages.page(page_size=3)
    assert page.next_page_url is not None
    second = page.next_page()
    assert second is not None
    assert [m.sid for m in second] == newest_first[3:6]

    today = datetime.now(UTC).date()
    assert len(client.messages.list(date_sent_after=today)) == 7
    assert len(client.messages.list(date_sent_before=today)) == 7  # on or before, by day
    assert len(client.messages.list(date_sent_before=today + timedelta(days=1))) == 7
    assert client.messages.list(date_sent_before=today - timedelta(days=1)) == []
    assert client.messages.list(date_sent_after=today + timedelta(days=1)) == []
    assert len(client.messages.list(date_sent=datetime.now(UTC))) == 7


def test_list_query_as_twilio_python_sends_it(sim: Sim) -> None:
    sim.client().messages.create(to="+14155550101", from_=SENDER, body="Hi")
    response = httpx.get(
        sim.url + MESSAGES,
        params={"DateSent>": "2000-01-01", "DateSent<": "2999-01-01", "PageSize": "1"},
        auth=(ACCOUNT_SID, AUTH_TOKEN),
    )
    assert response.status_code == 200
    body = response.json()
    assert len(body["messages"]) == 1
    assert body["page"] == 0 and body["page_size"] == 1 and body["start"] == 0
    assert body["end"] == 0
    assert body["next_page_uri"] is None and body["previous_page_uri"] is None
    assert body["first_page_uri"].startswith(MESSAGES + "?")
    assert body["uri"].startswith(MESSAGES)
