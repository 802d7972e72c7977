"""A bounded history: the newest messages and their callbacks are kept, the oldest forgotten."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient

from clinictext.simulator import SimulatorSettings, create_simulator, simulator_client
from clinictext.simulator.settings import DEFAULT_HISTORY, HISTORY_VARIABLE
from tests.simulator.conftest import ACCOUNT_SID, AUTH_TOKEN, SENDER
from tests.simulator.servers import Receiver, ServerThread, wait_until

HISTORY = 5


@pytest.fixture
def small() -> Iterator[tuple[ServerThread, Receiver, str]]:
    """A simulator that remembers five messages, and a receiver for its callbacks."""
    receiver = Receiver()
    settings = SimulatorSettings(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        seed=11,
        callback_delay_ms=(1, 3),
        history=HISTORY,
    )
    with ServerThread(receiver.app) as hooks, ServerThread(create_simulator(settings)) as sim:
        yield sim, receiver, hooks.url


def test_the_oldest_messages_are_forgotten_with_their_callbacks(
    small: tuple[ServerThread, Receiver, str],
) -> None:
    server, receiver, hooks_url = small
    simulator = server.app.state.simulator  # type: ignore[attr-defined]
    client = simulator_client(
        server.url, ACCOUNT_SID, AUTH_TOKEN, http_client=TwilioHttpClient(timeout=15)
    )
    sids = [
        client.messages.create(
            to=f"+1415555{i:04d}",
            from_=SENDER,
            body=f"Reminder {i}",
            status_callback=f"{hooks_url}/status/{i}",
        ).sid
        for i in range(3 * HISTORY)
    ]
    wait_until(lambda: simulator.callbacks.pending, lambda n: n == 0)
    # Every text still walked its whole life: a forgotten message's callbacks were sent.
    for i in range(3 * HISTORY):
        got = receiver.requests(f"/status/{i}")
        assert sorted(r.params["MessageStatus"] for r in got) == ["delivered", "sent"]

    kept, gone = sids[-HISTORY:], sids[:-HISTORY]
    state = simulator.state
    assert list(state.messages) == kept
    assert set(state.callbacks) == set(kept)
    assert all(len(attempts) == 2 for attempts in state.callbacks.values())

    for sid in kept:
        assert client.messages(sid).fetch().status == "delivered"
    for sid in gone:
        with pytest.raises(TwilioRestException) as missing:
            client.messages(sid).fetch()
        assert (missing.value.status, missing.value.code) == (404, 20404)

    with httpx.Client(base_url=server.url, auth=(ACCOUNT_SID, AUTH_TOKEN)) as http:
        path = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{gone[0]}.json"
        answer = http.get(path)
        assert answer.status_code == 404
        assert answer.json() == {
            "code": 20404,
            "message": f"The requested resource {path} was not found",
            "more_info": "https://www.twilio.com/docs/errors/20404",
            "status": 404,
        }
        assert [m["sid"] for m in http.get("/_control/messages").json()] == kept
        logged = http.get("/_control/callbacks").json()
        assert {c["sid"] for c in logged} == set(kept) and len(logged) == 2 * HISTORY
        assert http.get("/_control/callbacks", params={"sid": gone[-1]}).json() == []

    listed = [m.sid for m in client.messages.list(from_=SENDER)]
    assert listed == list(reversed(kept))


def test_inbound_texts_count_towards_the_history(
    small: tuple[ServerThread, Receiver, str],
) -> None:
    server, _, hooks_url = small
    with httpx.Client(base_url=server.url) as control:
        sids = []
        for i in range(HISTORY + 2):
            answer = control.post(
                "/_control/inbound",
                json={"from": f"+1415555{i:04d}", "to": SENDER, "body": "C", "url": hooks_url},
            )
            assert answer.status_code == 200, answer.text
            sids.append(answer.json()["sid"])
        rows = control.get("/_control/messages").json()
    assert [row["sid"] for row in rows] == sids[-HISTORY:]


def test_the_history_is_configurable_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(HISTORY_VARIABLE, raising=False)
    assert SimulatorSettings().history == DEFAULT_HISTORY
    monkeypatch.setenv(HISTORY_VARIABLE, "1200")
    assert SimulatorSettings().history == 1200
    monkeypatch.setenv(HISTORY_VARIABLE, "lots")
    with pytest.raises(ValueError, match=HISTORY_VARIABLE):
        SimulatorSettings()
    with pytest.raises(ValueError, match="history"):
        SimulatorSettings(history=-1)
