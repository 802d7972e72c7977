"""A text's whole life over real HTTP: clinictext -> simulator -> signed callbacks -> clinictext.

One ``clinictext serve`` (SQLite) serves the module; the lifecycle test also runs on a
server backed by PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from twilio.rest import Client

from tests.e2e.harness import (
    SIMULATOR_ACCOUNT_SID,
    SIMULATOR_AUTH_TOKEN,
    Clinic,
    Number,
    Server,
    fresh_phone,
    postgres_server,
    sqlite_server,
    statuses,
    wait_until,
)

CLINIC_NUMBER = "+15005550006"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with sqlite_server(tmp_path_factory, "lifecycle") as s:
        yield s


@pytest.fixture(scope="module")
def clinic(server: Server) -> Clinic:
    return server.new_clinic("Lifecycle Clinic", [Number(CLINIC_NUMBER, mps=1)])


@pytest.fixture(autouse=True)
def _fresh_simulator(server: Server) -> None:
    server.reset_simulator()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_backend_clinic(
    request: pytest.FixtureRequest, clinic: Clinic, tmp_path: Path
) -> Iterator[Clinic]:
    if request.param == "sqlite":
        yield clinic
        return
    pg_url: str = request.getfixturevalue("pg_template_url")
    with postgres_server(pg_url, tmp_path) as pg:
        yield pg.new_clinic("Lifecycle Clinic (PostgreSQL)", [Number(CLINIC_NUMBER, mps=1)])


def _at(entry: dict[str, str]) -> datetime:
    return datetime.fromisoformat(entry["at"].replace("Z", "+00:00"))


def test_a_text_to_a_valid_number_goes_queued_sending_sent_delivered_with_a_redacted_attempt_log(
    any_backend_clinic: Clinic,
) -> None:
    clinic = any_backend_clinic
    patient = clinic.patient()
    body = "Hi Pat, your cleaning with Dr. Okafor is Tuesday at 3pm. Reply C to confirm."
    message_id = clinic.send(patient, body)

    message = clinic.wait_for(message_id, {"delivered", "undelivered", "failed"})

    assert message["status"] == "delivered", message
    assert message["label"] == "Delivered"
    assert message["error_code"] is None
    assert message["diagnosis"] is None
    assert message["provider_id"].startswith("SM")
    assert statuses(message) == ["queued", "sending", "sent", "delivered"]
    times = [_at(h) for h in message["history"]]
    assert times == sorted(times), message["history"]

    attempts = message["attempts"]
    assert len(attempts) == 1, attempts
    attempt = attempts[0]
    assert attempt["operation"] == "send"
    assert attempt["outcome"] == "ok"
    assert attempt["http_status"] == 201
    assert attempt["request"]["form"]["Body"] == f"[{len(body)} characters]"
    assert attempt["response"]["sid"] == message["provider_id"]
    logged = json.dumps(attempts)
    for fragment in (body, "Okafor", "cleaning", "Reply C to confirm"):
        assert fragment not in logged, f"the attempt log leaks the body: {logged}"

    carrier = clinic.server.carrier_messages(to=patient.phone)
    assert [(m["sid"], m["body"], m["status"]) for m in carrier] == [
        (message["provider_id"], body, "delivered")
    ]


def test_a_second_text_from_a_1_mps_number_waits_for_the_3_segments_of_the_first(
    clinic: Clinic,
) -> None:
    patient = clinic.patient()
    long_body = ("Please arrive 15 minutes early to fill in your forms. " * 8)[:400]
    first = clinic.send(patient, long_body)
    second = clinic.send(patient, "See you soon!")
    assert clinic.message(first)["segments"] == 3
    assert clinic.message(second)["segments"] == 1

    done = clinic.wait_all([first, second], {"delivered"}, timeout=30)

    def sending_at(message_id: int) -> datetime:
        return next(_at(h) for h in done[message_id]["history"] if h["status"] == "sending")

    gap = (sending_at(second) - sending_at(first)).total_seconds()
    assert gap >= 2.9, (
        f"the 1-segment text was 'sending' only {gap:.2f} s after the 3-segment one on a "
        f"1-mps number; histories: {done[first]['history']} / {done[second]['history']}"
    )


def test_the_official_twilio_client_creates_and_fetches_a_message_on_the_mounted_simulator(
    server: Server,
) -> None:
    client = Client(SIMULATOR_ACCOUNT_SID, SIMULATOR_AUTH_TOKEN)
    client.api.base_url = server.simulator_url
    to = fresh_phone()

    created = client.messages.create(to=to, from_=CLINIC_NUMBER, body="Hello from twilio-python")

    assert created.sid.startswith("SM")
    assert created.to == to
    assert created.from_ == CLINIC_NUMBER
    assert created.body == "Hello from twilio-python"
    assert created.num_segments == "1"

    def delivered() -> object | None:
        fetched = client.messages(created.sid).fetch()
        return fetched if fetched.status == "delivered" else None

    fetched = wait_until(delivered, 10, f"{created.sid} to be delivered")
    assert fetched.sid == created.sid
    assert fetched.body == "Hello from twilio-python"
    assert fetched.error_code is None
    listed = [m.sid for m in client.messages.list(to=to, limit=20)]
    assert listed == [created.sid]
    assert [m["sid"] for m in server.carrier_messages(to=to)] == [created.sid]
