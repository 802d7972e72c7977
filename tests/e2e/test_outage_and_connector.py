"""Provider outages, the connector (API and command line) and sender-number verification.

Each test gets its own organization: the connector's state is derived from that
organization's own provider attempts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.harness import (
    Clinic,
    Number,
    Server,
    fresh_sender,
    postgres_server,
    sqlite_server,
    wait_until,
)

OUTAGE_TEXTS = 20
# Long enough for several of the dispatcher's 2-second probes and retries.
DOWN_WITHIN = 8.0
# A refresh pings the provider (here: the simulator in the same process) and reads the
# database: it answers in well under a second when nothing is wrong.
REFRESH_WITHIN = 5.0


@pytest.fixture(scope="module")
def server(pg_template_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """PostgreSQL-backed: on SQLite, POST /connector/refresh cannot work at all (see
    test_refreshing_the_connector_over_the_api_works_on_sqlite), which would hide everything
    else these tests check."""
    with postgres_server(pg_template_url, tmp_path_factory.mktemp("connector")) as s:
        yield s


@pytest.fixture(autouse=True)
def _fresh_simulator(server: Server) -> Iterator[None]:
    server.reset_simulator()
    yield
    server.sim("/outage", {"mode": "up"})


def _open_errors(connector: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in connector["errors"] if not e["acknowledged"]]


def _numbers(clinic: Clinic) -> dict[str, dict[str, Any]]:
    return {n["number"]: n for n in clinic.get("/numbers")}


def _carrier_bodies(server: Server, clinic: Clinic) -> Counter[str]:
    """What the carrier accepted from this clinic's number (other clinics' texts may still
    be going out), body by body."""
    sender = clinic.get("/numbers")[0]["number"]
    return Counter(m["body"] for m in server.carrier_messages() if m["from"] == sender)


def _texts_during_outage(server: Server, name: str, failure: str) -> tuple[Clinic, dict[int, str]]:
    """A fresh clinic, the provider down, and OUTAGE_TEXTS texts (unique bodies) queued."""
    sender = fresh_sender()
    clinic = server.new_clinic(name, [Number(sender, mps=50)])
    patients = [clinic.patient() for _ in range(4)]
    server.sim("/outage", {"mode": "down", "failure": failure})
    bodies: dict[int, str] = {}
    for i in range(OUTAGE_TEXTS):
        body = f"Outage text {i:02d}: your visit is confirmed."
        bodies[clinic.send(patients[i % len(patients)], body)] = body
    return clinic, bodies


@pytest.mark.parametrize("failure", ["503", "reset"])
def test_during_an_outage_the_connector_is_down_and_every_text_says_the_provider_is_unreachable(
    server: Server, failure: str
) -> None:
    clinic, bodies = _texts_during_outage(server, f"Down Clinic {failure}", failure)

    def diagnoses() -> dict[str, int]:
        return dict(Counter(clinic.message(i)["diagnosis"]["summary"] for i in bodies))

    down = wait_until(
        lambda: (c := clinic.connector())["state"] == "down" and _open_errors(c) and c,
        DOWN_WITHIN,
        "the connector to be down with an open error while the provider is down",
        lambda: {"connector": clinic.connector(), "diagnoses": diagnoses()},
    )
    assert down["pending"] == OUTAGE_TEXTS
    assert down["last_success_at"] is None
    for message_id in bodies:
        message = clinic.message(message_id)
        assert message["label"] == "Pending", message
        assert message["status"] in ("queued", "sending"), message
        assert "unreachable (connector down" in message["diagnosis"]["summary"], message
        assert "resends by itself" in message["diagnosis"]["fix"], message
    assert _carrier_bodies(server, clinic) == Counter()


@pytest.mark.parametrize("failure", ["503", "reset"])
def test_after_an_outage_acknowledge_and_refresh_deliver_every_text_exactly_once(
    server: Server, failure: str
) -> None:
    clinic, bodies = _texts_during_outage(server, f"Outage Clinic {failure}", failure)

    # The failure is recorded for staff, and nothing has reached the carrier.
    wait_until(
        lambda: _open_errors(clinic.connector()),
        20,
        "an open connector error while the provider is down",
        clinic.connector,
    )
    assert all(clinic.message(i)["label"] == "Pending" for i in bodies)
    assert clinic.connector()["pending"] == OUTAGE_TEXTS
    assert _carrier_bodies(server, clinic) == Counter()

    # Acknowledging clears every open error, and says how many.
    open_before = {e["id"] for e in _open_errors(clinic.connector())}
    acknowledged = clinic.post("/connector/acknowledge", expect=200).json()
    assert acknowledged["acknowledged"] >= len(open_before) >= 1
    after = clinic.connector()
    # While the outage lasts a later probe may record a new error: only these were acked.
    assert all(e["acknowledged"] for e in after["errors"] if e["id"] in open_before), after

    # The provider comes back; a refresh re-drives everything, each text exactly once.
    server.sim("/outage", {"mode": "up"})
    refreshed = clinic.post("/connector/refresh", expect=200).json()
    assert refreshed["state"] in ("up", "degraded"), refreshed
    clinic.wait_all(bodies, {"delivered"}, timeout=40)

    sent_bodies = _carrier_bodies(server, clinic)
    assert sent_bodies == Counter(bodies.values()), sent_bodies
    final = clinic.connector()
    assert final["state"] in ("up", "degraded"), final
    assert final["pending"] == 0
    assert final["last_success_at"] is not None


def test_a_landline_sender_is_pending_until_the_provider_verifies_it_then_texts_go_out(
    server: Server,
) -> None:
    landline = fresh_sender()
    clinic = server.new_clinic("Landline Clinic")
    added = clinic.add_number(Number(landline, kind="landline"))
    assert added["verification"] == "pending"
    patient = clinic.patient()

    refused = clinic.post(
        "/messages",
        {"patient_id": patient.id, "channel": "clinic", "body": "Hello from our front desk"},
        expect=422,
    )
    error = refused.json()["error"]
    assert error["code"] == "cannot_text"
    failing = [c for c in error["checks"] if not c["ok"]]
    assert [c["id"] for c in failing] == ["sender_number"], failing
    assert clinic.get("/messages", patient_id=patient.id) == []

    # A refresh before the provider confirms it changes nothing.
    clinic.post("/connector/refresh", expect=200)
    assert _numbers(clinic)[landline]["verification"] == "pending"

    server.sim("/verify", {"number": landline, "result": "verified", "kind": "landline"})
    clinic.post("/connector/refresh", expect=200)

    number = _numbers(clinic)[landline]
    assert number["verification"] == "verified", number
    assert number["verified_at"] is not None
    message_id = clinic.send(patient, "Hello from our front desk")
    message = clinic.wait_for(message_id, {"delivered", "undelivered", "failed"})
    assert message["status"] == "delivered", message
    assert message["from"] == landline
    assert [m["from"] for m in server.carrier_messages(to=patient.phone)] == [landline]


def test_the_cli_shows_acknowledges_and_refreshes_the_connector_of_the_running_server(
    server: Server,
) -> None:
    sender, landline = fresh_sender(), fresh_sender()
    clinic = server.new_clinic("CLI Clinic", [Number(sender, mps=10)])
    clinic.add_number(Number(landline, purpose="lead", kind="landline"))
    org = str(clinic.org_id)
    patient = clinic.patient()

    server.sim("/outage", {"mode": "down", "failure": "503"})
    message_id = clinic.send(patient, "Your x-rays are ready.")
    wait_until(
        lambda: _open_errors(clinic.connector()),
        20,
        "an open connector error",
        clinic.connector,
    )

    # The dispatcher keeps probing while the outage lasts, so the state may move (down,
    # degraded) and a new error may open between two readings: the CLI must show what the
    # API shows when both are read while nothing moved.
    def agreeing() -> tuple[dict, dict] | None:
        status = server.cli_json("connector", "status", "--org", org)
        api = clinic.connector()
        shown = [e["id"] for e in status["errors"] if not e["acknowledged"]]
        same = status["state"] == api["state"] and shown == [e["id"] for e in _open_errors(api)]
        return (status, api) if same else None

    status, api = wait_until(agreeing, 30, "the CLI and the API to show the same connector")
    assert status["state"] in ("down", "degraded")
    assert status["pending"] == 1

    open_before = {e["id"] for e in _open_errors(api)}
    acknowledged = server.cli_json("connector", "acknowledge", "--org", org)
    assert acknowledged["acknowledged"] >= len(open_before)
    # While the outage lasts a later probe may record a new error: only these were acked.
    again = server.cli_json("connector", "status", "--org", org)
    assert all(e["acknowledged"] for e in again["errors"] if e["id"] in open_before), again

    # The CLI's refresh talks to the simulator inside the server (CLINICTEXT_PUBLIC_URL):
    # the landline number the simulator now confirms becomes verified.
    server.sim("/outage", {"mode": "up"})
    server.sim("/verify", {"number": landline, "result": "verified", "kind": "landline"})
    refreshed = server.cli_json("connector", "refresh", "--org", org)
    assert refreshed["state"] in ("up", "degraded"), refreshed
    assert isinstance(refreshed["redriven"], int) and isinstance(refreshed["checked"], int)
    assert _numbers(clinic)[landline]["verification"] == "verified"
    audit = clinic.get("/audit", entity="connector")
    assert any(a["action"] == "connector.refreshed" and a["actor"] == "cli" for a in audit), audit

    message = clinic.wait_for(message_id, {"delivered"}, timeout=30)
    assert message["label"] == "Delivered"
    final = server.cli_json("connector", "status", "--org", org)
    assert final["pending"] == 0
    assert final["state"] in ("up", "degraded")


def test_refreshing_the_connector_over_the_api_works_on_sqlite(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """POST /connector/refresh on a SQLite-backed server answers with the connector's state
    (it re-checks the provider in transactions of its own)."""
    with sqlite_server(tmp_path_factory, "refresh-sqlite", stop_timeout=3) as sqlite:
        clinic = sqlite.new_clinic("SQLite Refresh Clinic", [Number(fresh_sender(), mps=10)])
        try:
            answer = clinic.call("POST", "/connector/refresh", expect=None, timeout=REFRESH_WITHIN)
        except httpx.TimeoutException:
            pytest.fail(
                f"POST /connector/refresh did not answer within {REFRESH_WITHIN:.0f} s on SQLite "
                "(the ping to the simulator is answered at once)"
            )
        assert answer.status_code == 200, answer.text
        assert answer.json()["state"] in ("up", "degraded")
        assert sqlite.http.get(sqlite.base + "/healthz", timeout=5).status_code == 200
