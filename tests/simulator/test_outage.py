"""Simulated outages of the REST API; the control API keeps working throughout."""

from __future__ import annotations

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException

from tests.simulator.conftest import SENDER, Sim


def create(sim: Sim, timeout: float | None = None) -> str:
    sid: str = (
        sim.client(timeout=timeout).messages.create(to="+14155550101", from_=SENDER, body="Hi").sid
    )
    return sid


def test_down_503(sim: Sim) -> None:
    assert sim.post("/outage", {"mode": "down", "failure": "503"}).status_code == 200
    with pytest.raises(TwilioRestException) as err:
        create(sim)
    assert err.value.status == 503 and err.value.code == 20503
    with pytest.raises(TwilioException, match="Unable to fetch page"):
        sim.client().messages.list()  # twilio-python's list raises the base class
    assert sim.get("/messages") == []  # nothing was accepted; the control API still answers
    assert sim.get("/outage")["mode"] == "down"
    sim.post("/outage", {"mode": "up"})
    create(sim)
    assert len(sim.get("/messages")) == 1


def test_down_reset_drops_the_connection(sim: Sim) -> None:
    sim.post("/outage", {"mode": "down", "failure": "reset"})
    with pytest.raises(requests.exceptions.ConnectionError):
        create(sim, timeout=10)
    with pytest.raises(requests.exceptions.ConnectionError):
        sim.client(timeout=10).messages.list()
    sim.post("/outage", {"mode": "up"})
    create(sim)
    assert len(sim.get("/messages")) == 1


def test_down_hang_holds_until_the_client_gives_up(sim: Sim) -> None:
    sim.post("/outage", {"mode": "down", "failure": "hang"})
    with pytest.raises(requests.exceptions.Timeout):
        create(sim, timeout=0.5)
    assert sim.get("/messages") == []
    sim.post("/outage", {"mode": "up"})
    create(sim, timeout=10)
    assert len(sim.get("/messages")) == 1


def test_slow_delays_every_answer(sim: Sim) -> None:
    sim.post("/outage", {"mode": "slow", "delay_ms": 1500})
    with pytest.raises(requests.exceptions.Timeout):
        sim.client(timeout=0.3).messages.list()
    create(sim, timeout=30)  # a patient client gets its answer
    assert len(sim.get("/messages")) == 1


def test_outage_validation(sim: Sim) -> None:
    for body in [{"mode": "sideways"}, {"mode": "down", "failure": "fire"}, [], {}]:
        response = sim.post("/outage", body)
        assert response.status_code == 400, body
        assert set(response.json()["error"]) == {"code", "message"}
    assert sim.post("/outage", {"mode": "down", "failure": 503}).json()["failure"] == "503"
