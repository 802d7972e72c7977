"""``clinictext serve --demo`` as a real process, spoken to over real HTTP.

The expected contents come from the demo seed's documentation (services/demo.py):
  Alice Ready    passes every check on both channels
  Ben Landline   `phone` fails
  Carla Nobody   `consent` fails (never opted in)
  Dan Stopped    `consent` fails (replied STOP: only he can opt back in); his conversation
                 shows the STOP and its confirmation
  Erin Booked    `lead_stage` fails on the lead channel; the clinic channel passes
  Fay Unsubscribed `consent` fails (unsubscribed from a campaign)
  Gina Informed  `consent` fails for campaigns only; her fourth automated text of the week
                 is Pending, held by the frequency cap
  Tom Becker     `phone` fails: his welcome text Failed with carrier error 30006 (landline)
  Rachel Kim     `lead_stage` fails on the lead channel (closed lost)
  Sam Setup      (Lakeside Dental) `sms_enabled`, `sender_number` on the clinic channel and
                 `spend_limit` fail
and a lead in every stage of the Lead Dashboard; nothing of the seeded history is sent again
when the server starts.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from clinictext.services.clock import utcnow
from clinictext.store.db import make_engine, session_factory
from clinictext.store.models import Message
from tests.pg import free_port

CLINICTEXT = str(Path(sys.executable).with_name("clinictext"))
DEMO_KEY = "ct_demo_clinic_key"
SETUP_KEY = "ct_demo_lakeside_key"
SPEC_CHECK_ORDER = ["sms_enabled", "sender_number", "phone", "consent", "lead_stage", "spend_limit"]
STARTUP_TIMEOUT = 90.0  # a bound, not a wait: a loaded machine may take this long


@dataclass
class Server:
    base: str
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str, key: str | None = DEMO_KEY, **kw: Any) -> httpx.Response:
        return httpx.get(self.base + path, headers=_auth(key), timeout=10, **kw)

    def post(self, path: str, json: Any, key: str | None = DEMO_KEY) -> httpx.Response:
        return httpx.post(self.base + path, json=json, headers=_auth(key), timeout=10)


def _auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


@contextmanager
def demo_server(db_path: Path, log_name: str = "server.log") -> Iterator[Server]:
    """Start ``clinictext serve --demo`` on a free port; always stop it afterwards."""
    port = free_port()
    env = {**os.environ, "CLINICTEXT_DATABASE_URL": f"sqlite:///{db_path}", "COLUMNS": "200"}
    log = db_path.parent / log_name
    with log.open("wb") as out:
        process = subprocess.Popen(
            [CLINICTEXT, "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited ({process.returncode}):\n{log.read_text()}")
            try:
                if httpx.get(server.base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"/healthz did not answer in {STARTUP_TIMEOUT:.0f} s:\n{log.read_text()}"
                )
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with demo_server(tmp_path_factory.mktemp("demo") / "demo.db") as s:
        yield s


def patient_ids(server: Server, key: str) -> dict[str, int]:
    answer = server.get("/api/v1/patients", key=key, params={"limit": 200})
    assert answer.status_code == 200, answer.text
    names = [f"{p['first_name']} {p['last_name']}" for p in answer.json()]
    assert len(names) == len(set(names)), f"duplicate patients: {sorted(names)}"
    return {name: p["id"] for name, p in zip(names, answer.json(), strict=True)}


@pytest.fixture(scope="module")
def demo_ids(server: Server) -> dict[str, int]:
    return patient_ids(server, DEMO_KEY)


def failing(server: Server, patient_id: int, channel: str, kind: str, key: str = DEMO_KEY) -> Any:
    answer = server.get(
        f"/api/v1/patients/{patient_id}/can-text",
        key=key,
        params={"channel": channel, "kind": kind},
    )
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert [c["id"] for c in data["checks"]] == SPEC_CHECK_ORDER
    assert data["channel"] == channel
    bad = {c["id"] for c in data["checks"] if not c["ok"]}
    assert data["can_text"] is (not bad)
    for check in data["checks"]:
        if not check["ok"]:
            assert check["fix"], check
    return bad


def test_healthz_answers(server: Server) -> None:
    answer = httpx.get(server.base + "/healthz", timeout=5)
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


DEMO_PATIENTS = {
    "Alice Ready",
    "Ben Landline",
    "Carla Nobody",
    "Dan Stopped",
    "Erin Booked",
    "Fay Unsubscribed",
    "Gina Informed",
    "Maya Patel",
    "Luis Ortega",
    "Tom Becker",
    "Rachel Kim",
    "Nora Quinn",
    "Unknown sender",
}


def test_demo_clinic_has_the_documented_patients(server: Server, demo_ids: dict[str, int]) -> None:
    assert set(demo_ids) == DEMO_PATIENTS
    # The README's examples use these ids.
    readme = ["Alice Ready", "Ben Landline", "Carla Nobody", "Dan Stopped", "Erin Booked"]
    readme += ["Gina Informed"]
    assert {name: demo_ids[name] for name in readme} == {
        name: i for i, name in enumerate(readme, 1)
    }
    assert patient_ids(server, SETUP_KEY) == {"Sam Setup": 7}


def messages_of(server: Server, patient_id: int) -> list[Any]:
    """The patient's texts, oldest first."""
    answer = server.get(f"/api/v1/patients/{patient_id}/messages", params={"limit": 200})
    assert answer.status_code == 200, answer.text
    return sorted(answer.json(), key=lambda m: m["id"])


def all_messages(server: Server) -> list[Any]:
    answer = server.get("/api/v1/messages", params={"limit": 200})
    assert answer.status_code == 200, answer.text
    return sorted(answer.json(), key=lambda m: m["id"])


def test_tom_has_a_failed_text_that_says_why_and_what_to_do(
    server: Server, demo_ids: dict[str, int]
) -> None:
    tom = demo_ids["Tom Becker"]
    (welcome,) = messages_of(server, tom)
    assert welcome["label"] == "Failed"
    assert welcome["error_code"] == "30006"
    assert [h["status"] for h in welcome["history"]] == ["queued", "sending", "sent", "undelivered"]
    diagnosis = welcome["diagnosis"]
    assert "landline" in diagnosis["summary"]
    assert "wireless phone" in diagnosis["fix"]
    assert failing(server, tom, "lead", "manual") == {"phone"}
    patient = server.get(f"/api/v1/patients/{tom}").json()
    assert patient["phone_status"] == "landline"


def test_pending_texts_say_why_they_are_pending(server: Server) -> None:
    seeded = [m for m in all_messages(server) if m["label"] == "Pending"]
    summaries = sorted(m["diagnosis"]["summary"] for m in seeded if m["diagnosis"])
    assert any("frequency cap" in s for s in summaries), summaries
    assert any("not confirmed delivery" in s for s in summaries), summaries


def test_dans_conversation_shows_his_stop_and_its_confirmation(
    server: Server, demo_ids: dict[str, int]
) -> None:
    texts = messages_of(server, demo_ids["Dan Stopped"])
    assert [(m["direction"], m["kind"], m["label"]) for m in texts] == [
        ("outbound", "manual", "Delivered"),
        ("inbound", "manual", "Received"),
        ("outbound", "keyword_reply", "Delivered"),
    ]
    assert texts[1]["body"] == "STOP"
    consent = server.get(f"/api/v1/patients/{demo_ids['Dan Stopped']}/consent").json()
    assert consent["state"] == "opted_out"
    assert consent["history"][-1]["source"] == "keyword"


def test_the_lead_dashboard_has_a_lead_in_every_stage(
    server: Server, demo_ids: dict[str, int]
) -> None:
    stages: dict[str, list[Any]] = {}
    for pid in demo_ids.values():
        lead = server.get(f"/api/v1/patients/{pid}/lead")
        assert lead.status_code == 200, lead.text
        if lead.json()["stage"]:
            stages.setdefault(lead.json()["stage"], []).append(lead.json())
    assert set(stages) == {"open", "in_progress", "closed_won", "closed_lost"}
    assert any(lead["substatus"] == "scheduled" for lead in stages["closed_won"])
    assert all(lead["reason"] for lead in stages["closed_lost"])
    assert failing(server, demo_ids["Rachel Kim"], "lead", "manual") == {"lead_stage"}


@pytest.mark.parametrize("channel", ["lead", "clinic"])
@pytest.mark.parametrize("kind", ["manual", "automated", "campaign"])
def test_alice_passes_every_check_on_both_channels(
    server: Server, demo_ids: dict[str, int], channel: str, kind: str
) -> None:
    assert failing(server, demo_ids["Alice Ready"], channel, kind) == set()


def test_ben_fails_only_the_phone_check_because_his_phone_is_a_landline(
    server: Server, demo_ids: dict[str, int]
) -> None:
    assert failing(server, demo_ids["Ben Landline"], "clinic", "manual") == {"phone"}


def test_carla_fails_only_consent_because_she_never_opted_in(
    server: Server, demo_ids: dict[str, int]
) -> None:
    assert failing(server, demo_ids["Carla Nobody"], "clinic", "manual") == {"consent"}


def test_dan_fails_only_consent_and_must_text_start_himself(
    server: Server, demo_ids: dict[str, int]
) -> None:
    dan = demo_ids["Dan Stopped"]
    assert failing(server, dan, "clinic", "manual") == {"consent"}
    checks = server.get(f"/api/v1/patients/{dan}/can-text", params={"channel": "clinic"}).json()
    consent = next(c for c in checks["checks"] if c["id"] == "consent")
    assert "START" in consent["fix"]


def test_erin_fails_lead_stage_on_the_lead_channel_only(
    server: Server, demo_ids: dict[str, int]
) -> None:
    erin = demo_ids["Erin Booked"]
    assert failing(server, erin, "lead", "manual") == {"lead_stage"}
    assert failing(server, erin, "clinic", "manual") == set()


def test_fay_fails_consent_because_she_unsubscribed_from_a_campaign(
    server: Server, demo_ids: dict[str, int]
) -> None:
    assert failing(server, demo_ids["Fay Unsubscribed"], "clinic", "manual") == {"consent"}


def test_gina_fails_consent_for_campaigns_only(server: Server, demo_ids: dict[str, int]) -> None:
    gina = demo_ids["Gina Informed"]
    assert failing(server, gina, "clinic", "campaign") == {"consent"}
    assert failing(server, gina, "clinic", "manual") == set()
    assert failing(server, gina, "clinic", "automated") == set()


def test_sam_at_lakeside_fails_sms_enabled_sender_number_and_spend_limit(server: Server) -> None:
    ids = patient_ids(server, SETUP_KEY)
    assert set(ids) == {"Sam Setup"}
    assert failing(server, ids["Sam Setup"], "clinic", "manual", key=SETUP_KEY) == {
        "sms_enabled",
        "sender_number",
        "spend_limit",
    }


def test_one_clinic_cannot_see_the_other_clinics_patient(
    server: Server, demo_ids: dict[str, int]
) -> None:
    answer = server.get(f"/api/v1/patients/{demo_ids['Alice Ready']}", key=SETUP_KEY)
    assert answer.status_code == 404
    assert answer.json()["error"]["code"]


def test_sending_to_alice_is_queued(server: Server, demo_ids: dict[str, int]) -> None:
    alice = demo_ids["Alice Ready"]
    answer = server.post(
        "/api/v1/messages",
        {"patient_id": alice, "channel": "clinic", "body": "Hi Alice, see you Tuesday."},
    )
    assert answer.status_code == 202, answer.text
    message = answer.json()
    assert message["status"] == "queued"
    assert message["patient_id"] == alice

    fetched = server.get(f"/api/v1/messages/{message['id']}")
    assert fetched.status_code == 200
    # The dispatcher runs in the demo server: the text may already be delivered.
    assert fetched.json()["label"] in ("Pending", "Delivered")


def test_sending_to_carla_is_refused_with_every_check_and_writes_nothing(
    server: Server, demo_ids: dict[str, int]
) -> None:
    carla = demo_ids["Carla Nobody"]
    answer = server.post(
        "/api/v1/messages", {"patient_id": carla, "channel": "clinic", "body": "Hi Carla"}
    )
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "cannot_text"
    assert error["message"]
    assert [c["id"] for c in error["checks"]] == SPEC_CHECK_ORDER
    assert {c["id"] for c in error["checks"] if not c["ok"]} == {"consent"}

    sent = server.get(f"/api/v1/patients/{carla}/messages")
    assert sent.status_code == 200
    assert sent.json() == []


def test_openapi_document_is_served(server: Server) -> None:
    answer = httpx.get(server.base + "/openapi.json", timeout=10)
    assert answer.status_code == 200
    doc = answer.json()
    assert "openapi" in doc
    assert any(path.startswith("/api/v1/") for path in doc["paths"])


@pytest.mark.parametrize("key", ["ct_not_a_real_key", None])
def test_a_wrong_or_missing_key_is_401_with_an_error_code(server: Server, key: str | None) -> None:
    answer = server.get("/api/v1/org", key=key)
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert re.fullmatch(r"[a-z]+(_[a-z]+)*", error["code"])
    assert error["message"]


def assert_nothing_sent(server: Server, db_path: Path) -> None:
    """The seeded history is settled: nothing in it is due for the dispatcher, so nothing
    reaches the carrier (read from the database, not waited for)."""
    engine = make_engine(f"sqlite:///{db_path}")
    try:
        with session_factory(engine)() as session:
            due = session.scalar(
                select(func.count())
                .select_from(Message)
                .where(
                    Message.status.in_(["queued", "sending"]),
                    Message.due_at <= utcnow(),
                )
            )
    finally:
        engine.dispose()
    assert due == 0
    answer = httpx.get(server.base + "/simulator/_control/messages", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json() == []


def test_demo_seeding_twice_on_the_same_database_changes_nothing(tmp_path: Path) -> None:
    db_path = tmp_path / "twice.db"
    with demo_server(db_path, "first.log") as first:
        assert_nothing_sent(first, db_path)
        demo_before = patient_ids(first, DEMO_KEY)
        setup_before = patient_ids(first, SETUP_KEY)
        numbers_before = first.get("/api/v1/numbers").json()
        messages_before = [(m["id"], m["status"]) for m in all_messages(first)]
        errors_before = first.get("/api/v1/connector").json()["errors"]
    with demo_server(db_path, "second.log") as second:
        assert second.get("/api/v1/org").status_code == 200
        demo_after = patient_ids(second, DEMO_KEY)
        setup_after = patient_ids(second, SETUP_KEY)
        numbers_after = second.get("/api/v1/numbers").json()
        alice = demo_after["Alice Ready"]
        assert failing(second, alice, "clinic", "manual") == set()
        assert_nothing_sent(second, db_path)
        messages_after = [(m["id"], m["status"]) for m in all_messages(second)]
        errors_after = second.get("/api/v1/connector").json()["errors"]
    assert demo_after == demo_before
    assert set(demo_after) == DEMO_PATIENTS
    assert setup_after == setup_before
    assert numbers_after == numbers_before
    assert len(messages_before) >= 25
    assert messages_after == messages_before
    assert errors_after == errors_before
