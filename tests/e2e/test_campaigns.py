"""Campaigns over real HTTP: ``clinictext serve`` with its dispatcher and the carrier
simulator. A campaign of 30 patients reports exactly who got it and why the others did not;
pause stops the texts at the carrier, resume finishes them, cancel stops every text not yet
handed over. Waits are for conditions (the API's counts, the carrier's messages), never for
a fixed moment.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

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

INVALID_AT_CARRIER = "+15005550001"  # the simulator answers 21211, as Twilio's test number does
WAIT = 120.0  # a loaded machine sends 21 texts at 2 a second well within this


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with sqlite_server(tmp_path_factory, "campaigns") as s:
        yield s


@pytest.fixture(params=["sqlite", "postgresql"])
def any_server(request: pytest.FixtureRequest, server: Server, tmp_path: Path) -> Iterator[Server]:
    if request.param == "sqlite":
        yield server
        return
    pg_url: str = request.getfixturevalue("pg_template_url")
    with postgres_server(pg_url, tmp_path) as pg:
        yield pg


def _window_open_all_day(clinic: Clinic) -> None:
    """The send window as wide as it goes (00:00-23:59), and not its one closed minute now
    in the patients' or the clinic's time, so that no text waits for the morning."""
    window = {"start": "00:00", "end": "23:59"}
    clinic.call("PATCH", "/org", {"send_window": window}, expect=200)

    def open_now() -> bool:
        now = datetime.now(UTC)
        zones = ("America/Los_Angeles", "America/New_York")
        return all(now.astimezone(ZoneInfo(z)).strftime("%H:%M") < "23:58" for z in zones)

    wait_until(open_now, 180, "the send window's closed minute to pass")


def _audience(clinic: Clinic) -> dict[str, list[int]]:
    """30 patients: 21 with marketing consent, one of them at a number the carrier refuses;
    4 with consent to care texts only, 3 who never opted in, 2 who opted out."""
    groups: dict[str, list[int]] = {"marketing": [], "care_only": [], "never": [], "out": []}
    for _ in range(20):
        groups["marketing"].append(clinic.patient().id)
    invalid = clinic.post(
        "/patients",
        {"first_name": "Ivy", "last_name": "Invalid", "phone": INVALID_AT_CARRIER},
        expect=201,
    ).json()["id"]
    _opt_in(clinic, invalid, "marketing")
    groups["marketing"].append(invalid)
    groups["invalid"] = [invalid]
    for _ in range(4):
        pid = clinic.patient(consent=False).id
        _opt_in(clinic, pid, "informational")
        groups["care_only"].append(pid)
    for _ in range(3):
        groups["never"].append(clinic.patient(consent=False).id)
    for _ in range(2):
        pid = clinic.patient().id
        clinic.post(
            f"/patients/{pid}/consent",
            {"action": "opt_out", "source": "staff", "evidence": "asked at the front desk"},
            expect=201,
        )
        groups["out"].append(pid)
    return groups


def _opt_in(clinic: Clinic, pid: int, level: str) -> None:
    clinic.post(
        f"/patients/{pid}/consent",
        {"action": "opt_in", "level": level, "source": "web_form", "evidence": "e2e"},
        expect=201,
    )


def _template(clinic: Clinic, body: str) -> int:
    r = clinic.post("/templates", {"name": body[:30], "purpose": "campaign", "body": body})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _campaign(clinic: Clinic, template: int, audience: dict[str, Any]) -> dict[str, Any]:
    r = clinic.post(
        "/campaigns", {"name": "E2E", "template_id": template, "audience": audience}, expect=201
    )
    data: dict[str, Any] = r.json()
    return data


def _at_carrier(server: Server, marker: str) -> list[dict[str, Any]]:
    return [m for m in server.carrier_messages() if marker in m["body"]]


def _report(clinic: Clinic, cid: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        answer = clinic.call("GET", f"/campaigns/{cid}/recipients", params=params, expect=200)
        rows += answer.json()
        cursor = answer.headers.get("x-next-cursor")
        if not cursor:
            return rows


def _quiet_number_proof(clinic: Clinic, patient: int) -> None:
    """A staff text on the same lead number goes out and is delivered: the dispatcher has
    worked through rounds since, so a campaign text that could go would have gone."""
    clinic.call("PUT", f"/patients/{patient}/lead", {"stage": "open"}, expect=200)
    mid = clinic.send(patient, "Thanks for your question, we will call you.", channel="lead")
    clinic.wait_for(mid, {"delivered"}, timeout=WAIT)


def test_a_campaign_of_30_reports_who_got_it_and_why_and_pauses_and_resumes(
    any_server: Server,
) -> None:
    server = any_server
    server.reset_simulator()
    clinic = server.new_clinic("Bright Smiles", [Number(fresh_sender(), purpose="lead", mps=2)])
    _window_open_all_day(clinic)
    groups = _audience(clinic)
    template = _template(clinic, "Hi [FName], spring cleaning special: 15% off.")
    made = _campaign(clinic, template, {"all": True})
    assert made["preview"] == {"recipients": 21, "skipped": 9, "skip_reasons": {"consent": 9}}
    cid = made["id"]
    started = clinic.post(f"/campaigns/{cid}/start", expect=200).json()
    assert started["status"] == "running"

    # Pause once a few texts reached the carrier: nothing more goes until resumed.
    wait_until(
        lambda: len(_at_carrier(server, "spring cleaning")) >= 3, WAIT, "3 texts at the carrier"
    )
    paused = clinic.post(f"/campaigns/{cid}/pause", expect=200).json()
    assert paused["status"] == "paused"
    wait_until(
        lambda: clinic.get(f"/campaigns/{cid}")["counts"]["sending"] == 0,
        WAIT,
        "the texts handed over before the pause to be answered",
    )
    reached = len(_at_carrier(server, "spring cleaning"))
    assert reached < 21
    _quiet_number_proof(clinic, groups["care_only"][0])
    assert len(_at_carrier(server, "spring cleaning")) == reached
    held = clinic.get(f"/campaigns/{cid}")["counts"]
    assert held["queued"] + held["scheduled"] > 0

    clinic.post(f"/campaigns/{cid}/resume", expect=200)

    def finished() -> dict[str, Any] | None:
        data = clinic.get(f"/campaigns/{cid}")
        c = data["counts"]
        return data if c["delivered"] == 20 and c["failed"] == 1 else None

    done = wait_until(finished, WAIT, "20 delivered and 1 failed")
    assert done["status"] == "done"
    assert done["counts"]["skipped"] == 9

    rows = {r["patient_id"]: r for r in _report(clinic, cid)}
    assert len(rows) == 30
    delivered = {p for p, r in rows.items() if r["status"] == "delivered"}
    assert delivered == set(groups["marketing"]) - set(groups["invalid"])
    invalid = rows[groups["invalid"][0]]
    assert (invalid["status"], invalid["error_code"]) == ("failed", "21211")
    assert "not a valid number" in invalid["detail"]
    for name in ("care_only", "never", "out"):
        for pid in groups[name]:
            assert (rows[pid]["status"], rows[pid]["skip_reason"]) == ("skipped", "consent")
            assert rows[pid]["message_id"] is None and rows[pid]["detail"]

    # Exactly one text reached each delivered patient, and none anyone else.
    phones = {m["to"] for m in _at_carrier(server, "spring cleaning")}
    assert len(_at_carrier(server, "spring cleaning")) == 20 == len(phones)

    download = clinic.call("GET", f"/campaigns/{cid}/recipients.csv", expect=200)
    table = {int(r["patient_id"]): r for r in csv.DictReader(io.StringIO(download.text))}
    assert {p: r["status"] for p, r in table.items()} == {p: r["status"] for p, r in rows.items()}
    assert table[groups["invalid"][0]]["error_code"] == "21211"


def test_cancel_stops_every_text_not_yet_handed_to_the_carrier(server: Server) -> None:
    server.reset_simulator()
    clinic = server.new_clinic("Cancel Dental", [Number(fresh_sender(), purpose="lead", mps=1)])
    _window_open_all_day(clinic)
    ids = [clinic.patient().id for _ in range(12)]
    other = clinic.patient().id
    template = _template(clinic, "Hi [FName], flu shots are in.")
    cid = _campaign(clinic, template, {"patient_ids": ids})["id"]
    clinic.post(f"/campaigns/{cid}/start", expect=200)
    wait_until(lambda: len(_at_carrier(server, "flu shots")) >= 2, WAIT, "2 texts at the carrier")
    canceled = clinic.post(f"/campaigns/{cid}/cancel", expect=200).json()
    assert canceled["status"] == "canceled"
    assert canceled["counts"]["canceled"] >= 1
    wait_until(
        lambda: clinic.get(f"/campaigns/{cid}")["counts"]["sending"] == 0,
        WAIT,
        "the texts handed over before the cancel to be answered",
    )
    _quiet_number_proof(clinic, other)
    rows = _report(clinic, cid)
    went = [r for r in rows if r["status"] != "canceled"]
    assert {r["status"] for r in went} <= {"sent", "delivered"}
    assert len(_at_carrier(server, "flu shots")) == len(went)
    assert len(went) + clinic.get(f"/campaigns/{cid}")["counts"]["canceled"] == 12
    refused = clinic.post(f"/campaigns/{cid}/resume")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "campaign_canceled"
