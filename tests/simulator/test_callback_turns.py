"""Callbacks beyond ``callback_concurrency`` wait for a turn; their timeout starts after it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from twilio.http.http_client import TwilioHttpClient

from clinictext.simulator import SimulatorSettings, create_simulator, simulator_client
from tests.simulator.conftest import ACCOUNT_SID, AUTH_TOKEN, SENDER
from tests.simulator.servers import Receiver, ServerThread, wait_until

TIMEOUT_S = 2.0


@pytest.fixture
def one_at_a_time() -> Iterator[tuple[ServerThread, Receiver, str]]:
    receiver = Receiver()
    settings = SimulatorSettings(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        seed=5,
        callback_delay_ms=(0, 0),
        callback_retries=1,
        callback_backoff_ms=10,
        callback_timeout_s=TIMEOUT_S,
        callback_concurrency=1,
    )
    with ServerThread(receiver.app) as hooks, ServerThread(create_simulator(settings)) as sim:
        yield sim, receiver, hooks.url
        receiver.clear()  # lets a held answer go, so the receiver can stop


def test_a_callback_waiting_for_its_turn_does_not_time_out(
    one_at_a_time: tuple[ServerThread, Receiver, str],
) -> None:
    server, receiver, hooks_url = one_at_a_time
    simulator = server.app.state.simulator  # type: ignore[attr-defined]
    client = simulator_client(
        server.url, ACCOUNT_SID, AUTH_TOKEN, http_client=TwilioHttpClient(timeout=15)
    )

    def send(to: str, path: str) -> str:
        sid: str = client.messages.create(
            to=to, from_=SENDER, body="See you Tuesday", status_callback=hooks_url + path
        ).sid
        return sid

    release = receiver.hold("/status/held")
    first = send("+14155550100", "/status/held")
    receiver.wait_for("/status/held", lambda got: len(got) == 1)
    # The only turn is held by the first text's callback, then by the second's: each holds it
    # until it times out, so the texts after them wait for two timeouts.
    second = send("+14155550109", "/status/held")
    waiting = [send(f"+1415555010{i}", f"/status/{i}") for i in range(1, 4)]
    log = wait_until(
        lambda: simulator.state.callback_log(second),
        lambda log: log and log[0].error is not None,
        timeout=30,
    )
    assert "Timeout" in log[0].error
    release.set()

    wait_until(lambda: simulator.callbacks.pending, lambda n: n == 0, timeout=60)
    for sid in waiting:
        attempts = simulator.state.callback_log(sid)
        assert [(a.status, a.http_status, a.error) for a in attempts] == [
            ("sent", 204, None),
            ("delivered", 204, None),
        ]
    for sid in (first, second):
        attempts = simulator.state.callback_log(sid)
        assert [(a.status, a.attempt, a.http_status) for a in attempts] == [
            ("sent", 1, None),
            ("sent", 2, 204),
            ("delivered", 1, 204),
        ]
