"""Fixtures: a webhook receiver and a simulator, each served by uvicorn on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from clinictext.simulator import SimulatorSettings, create_simulator, simulator_client
from tests.simulator.servers import Receiver, ServerThread

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "test-auth-token"
SENDER = "+15005550006"


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    recv = Receiver()
    with ServerThread(recv.app) as server:
        yield recv, server.url


@dataclass
class Sim:
    url: str
    settings: SimulatorSettings
    app: Any
    control: httpx.Client
    receiver: Receiver
    receiver_url: str

    def client(self, timeout: float | None = None) -> Client:
        return simulator_client(
            self.url, ACCOUNT_SID, AUTH_TOKEN, http_client=TwilioHttpClient(timeout=timeout)
        )

    def post(self, path: str, json: Any = None) -> httpx.Response:
        return self.control.post("/_control" + path, json=json)

    def get(self, path: str, **params: Any) -> Any:
        response = self.control.get("/_control" + path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def callback_url(self, name: str) -> str:
        return f"{self.receiver_url}/status/{name}"


@pytest.fixture(scope="module")
def sim_server(receiver: tuple[Receiver, str]) -> Iterator[Sim]:
    recv, recv_url = receiver
    settings = SimulatorSettings(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        inbound_webhook_url=recv_url + "/sms",
        seed=7,
        callback_delay_ms=(1, 5),
        callback_backoff_ms=10,
    )
    app = create_simulator(settings)
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as control:
        yield Sim(server.url, settings, app, control, recv, recv_url)


@pytest.fixture
def sim(sim_server: Sim) -> Sim:
    """The module's simulator, reset, with an empty receiver."""
    assert sim_server.post("/reset").status_code == 200
    sim_server.receiver.clear()
    return sim_server
