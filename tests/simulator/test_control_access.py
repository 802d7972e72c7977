"""The control API obeys only this machine unless told otherwise; the carrier's REST API is
unaffected; ``serve`` says loudly that the simulator sends no real texts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from clinictext.api.app import create_app
from clinictext.config import Settings
from clinictext.simulator import SimulatorSettings, create_simulator
from clinictext.simulator.access import is_local
from clinictext.simulator.settings import CONTROL_FROM_VARIABLE
from tests.e2e.harness import running_server, sqlite_url
from tests.simulator.conftest import ACCOUNT_SID, AUTH_TOKEN

ELSEWHERE = ("10.1.2.3", 1234)
MESSAGES = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"


def _simulator(**options: Any) -> Any:
    return create_simulator(
        SimulatorSettings(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, **options)
    )


@pytest.fixture(autouse=True)
def _no_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CONTROL_FROM_VARIABLE, raising=False)


def _assert_forbidden(answer: httpx.Response) -> None:
    assert answer.status_code == 403, answer.text
    error = answer.json()["error"]
    assert error["code"] == "control_forbidden"
    assert "CLINICTEXT_SIMULATOR_CONTROL_FROM=any" in error["message"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/_control/messages", None),
        ("POST", "/_control/reset", {}),
        ("POST", "/_control/outage", {"mode": "down"}),
        (
            "POST",
            "/_control/inbound",
            {"from": "+14155550101", "to": "+15005550006", "body": "STOP"},
        ),
        ("GET", "/_control/no-such-endpoint", None),
    ],
)
def test_a_client_on_another_machine_is_refused_the_control_api(
    method: str, path: str, body: Any
) -> None:
    app = _simulator()
    with TestClient(app, client=ELSEWHERE) as remote:
        _assert_forbidden(remote.request(method, path, json=body))
    with TestClient(app) as local:
        assert local.get("/_control/messages").json() == []  # nothing was injected
        assert local.get("/_control/outage").status_code != 403


def test_the_carriers_rest_api_still_answers_other_machines() -> None:
    with TestClient(_simulator(), client=ELSEWHERE) as remote:
        answer = remote.get(MESSAGES, auth=(ACCOUNT_SID, AUTH_TOKEN))
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "testclient"]
)
def test_loopback_clients_may_use_the_control_api(host: str) -> None:
    with TestClient(_simulator(), client=(host, 40000)) as local:
        assert local.post("/_control/reset", json={}).status_code == 200


@pytest.mark.parametrize(
    "client",
    [
        ("10.1.2.3", 1),
        ("192.168.1.20", 1),
        ("0.0.0.0", 1),
        ("::ffff:10.0.0.1", 1),
        ("2001:db8::1", 1),
        ("localhost", 1),  # a name, not an address: a server always gives the address
        ("127.0.0.1.example.com", 1),
    ],
)
def test_other_addresses_are_not_local(client: tuple[str, int]) -> None:
    assert not is_local(client)


def test_a_unix_socket_client_is_local() -> None:
    assert is_local(None)


def test_control_from_any_lets_every_client_in() -> None:
    with TestClient(_simulator(control_from="any"), client=ELSEWHERE) as remote:
        assert remote.post("/_control/reset", json={}).status_code == 200


def test_the_environment_variable_sets_who_may_control(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CONTROL_FROM_VARIABLE, "any")
    assert SimulatorSettings().control_from == "any"
    monkeypatch.setenv(CONTROL_FROM_VARIABLE, "everyone")
    with pytest.raises(ValueError, match="'loopback' or 'any'"):
        SimulatorSettings()


def test_the_simulator_mounted_in_serve_refuses_other_machines(tmp_path: Path) -> None:
    """Through httpx's ASGI transport, as a client on the network would reach the server."""
    app = create_app(Settings(database_url=sqlite_url(tmp_path)), simulator=True)

    async def call(client: tuple[str, int]) -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://clinic") as http:
            return await http.post("/simulator/_control/outage", json={"mode": "down"})

    _assert_forbidden(asyncio.run(call(ELSEWHERE)))
    assert asyncio.run(call(("127.0.0.1", 5000))).status_code == 200


def test_serve_says_loudly_that_no_real_texts_are_sent(tmp_path: Path) -> None:
    with running_server(sqlite_url(tmp_path), tmp_path) as server:
        started = server.log.read_text(errors="replace")
    assert "SIMULATOR MODE: NO REAL TEXTS ARE SENT" in started
