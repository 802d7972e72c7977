"""``clinictext import`` of an appointment file (a header with starts_at): all rows or none,
the patient import's report, re-imports that update instead of duplicating.

Runs go through Typer's CliRunner on ``clinictext.cli.app``; every test runs on SQLite and
on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from clinictext.cli import app
from clinictext.config import get_settings
from clinictext.services.clock import utcnow
from clinictext.store.db import transaction
from clinictext.store.models import Appointment, Location
from tests.api.helpers import add_patient, open_lead
from tests.conftest import Org

YEAR = utcnow().year + 1
HEADER = "patient_external_id,patient_id,phone,starts_at,provider,location,external_id,status"


def csv_file(tmp_path: Path, lines: list[str], name: str = "appointments.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def run_import(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    monkeypatch.setenv("CLINICTEXT_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    runner = CliRunner()

    def run(path: Path, org_id: int, *options: str) -> Any:
        return runner.invoke(app, ["import", str(path), "--org", str(org_id), *options])

    yield run
    get_settings.cache_clear()


@pytest.fixture
def org(make_org: Callable[[str], Org]) -> Org:
    return make_org("Import Clinic")


@pytest.fixture
def people(org: Org) -> dict[str, int]:
    """Ana (external id P-1), Ben (found by id), Cho (found by phone)."""
    return {
        "ana": add_patient(org, "(415) 555-0141", external_id="P-1"),
        "ben": add_patient(org, "(415) 555-0142"),
        "cho": add_patient(org, "(415) 555-0143"),
    }


def good_rows(people: dict[str, int]) -> list[str]:
    return [
        f"P-1,,,{YEAR}-12-01 15:30,Dr. Okafor,,A-1,",
        f",{people['ben']},,{YEAR}-12-02T09:00:00-08:00,,,A-2,confirmed",
        f",,(415) 555-0143,{YEAR}-12-03 08:15,Dr. Park,,A-3,scheduled",
    ]


def appointments_of(org: Org) -> dict[str, dict[str, Any]]:
    answer = org.get("/appointments", params={"limit": 200})
    assert answer.status_code == 200
    return {a["external_id"]: a for a in answer.json()}


def as_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def count(factory: sessionmaker[Session]) -> int:
    with factory() as s:
        return int(s.scalar(select(func.count()).select_from(Appointment)) or 0)


# --- a good file ---------------------------------------------------------------------------


def test_a_good_file_books_every_appointment(
    tmp_path: Path, org: Org, people: dict[str, int], run_import: Any
) -> None:
    result = run_import(csv_file(tmp_path, [HEADER, *good_rows(people)]), org.id, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "rows": 3,
        "created": 3,
        "updated": 0,
        "rejected": [],
        "imported": True,
    }
    found = appointments_of(org)
    a1, a2, a3 = found["A-1"], found["A-2"], found["A-3"]
    assert (a1["patient_id"], a2["patient_id"], a3["patient_id"]) == (
        people["ana"],
        people["ben"],
        people["cho"],
    )
    # A local time is read in the organization's zone (America/New_York, EST in December).
    assert as_utc(a1["starts_at"]) == datetime(YEAR, 12, 1, 20, 30, tzinfo=UTC)
    assert as_utc(a2["starts_at"]) == datetime(YEAR, 12, 2, 17, 0, tzinfo=UTC)
    assert (a1["provider"], a1["status"]) == ("Dr. Okafor", "scheduled")
    assert (a2["status"], a2["confirmed_via"]) == ("confirmed", "import")
    assert a3["status"] == "scheduled"
    assert len({a["confirm_code"] for a in found.values()}) == 3


def test_a_local_time_is_read_in_the_locations_zone(
    tmp_path: Path,
    org: Org,
    people: dict[str, int],
    run_import: Any,
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as s:
        s.add(
            Location(
                organization_id=org.id,
                name="Westside",
                timezone="America/Los_Angeles",
                created_at=utcnow(),
            )
        )
    lines = [HEADER, f"P-1,,,{YEAR}-12-01 15:30,,westside,W-1,"]
    assert run_import(csv_file(tmp_path, lines), org.id).exit_code == 0
    booked = appointments_of(org)["W-1"]
    assert booked["location_name"] == "Westside"
    assert as_utc(booked["starts_at"]) == datetime(YEAR, 12, 1, 23, 30, tzinfo=UTC)


def test_a_reimport_updates_and_moves_instead_of_duplicating(
    tmp_path: Path,
    org: Org,
    people: dict[str, int],
    run_import: Any,
    factory: sessionmaker[Session],
) -> None:
    assert run_import(csv_file(tmp_path, [HEADER, *good_rows(people)]), org.id).exit_code == 0
    before = appointments_of(org)
    again = good_rows(people)
    again[0] = f"P-1,,,{YEAR}-12-01 16:45,Dr. Okafor,,A-1,"
    again[2] = f",,(415) 555-0143,{YEAR}-12-03 08:15,Dr. Park,,A-3,canceled"
    result = run_import(csv_file(tmp_path, [HEADER, *again], "again.csv"), org.id, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["created"], report["updated"]) == (0, 3)
    assert count(factory) == 3
    after = appointments_of(org)
    assert after["A-1"]["id"] == before["A-1"]["id"]
    assert as_utc(after["A-1"]["starts_at"]) == datetime(YEAR, 12, 1, 21, 45, tzinfo=UTC)
    assert after["A-1"]["confirm_code"] == before["A-1"]["confirm_code"]
    assert after["A-2"]["status"] == "confirmed"
    assert after["A-3"]["status"] == "canceled"
    audit = org.get(
        "/audit", params={"entity": "appointment", "entity_id": after["A-1"]["id"]}
    ).json()
    assert "appointment.moved" in [e["action"] for e in audit]


def test_booking_by_import_closes_an_active_lead(
    tmp_path: Path, org: Org, people: dict[str, int], run_import: Any
) -> None:
    open_lead(org, people["ana"])
    lines = [HEADER, f"P-1,,,{YEAR}-12-01 15:30,,,A-1,"]
    assert run_import(csv_file(tmp_path, lines), org.id).exit_code == 0
    lead = org.get(f"/patients/{people['ana']}/lead").json()
    assert (lead["stage"], lead["substatus"]) == ("closed_won", "scheduled")
    assert lead["history"][-1]["actor"] == "cli"


# --- bad rows ------------------------------------------------------------------------------


def test_a_wrong_date_format_names_the_line_and_the_expected_format(
    tmp_path: Path,
    org: Org,
    people: dict[str, int],
    run_import: Any,
    factory: sessionmaker[Session],
) -> None:
    rows = good_rows(people)
    rows[1] = f",{people['ben']},,12/02/{YEAR} 9:00 AM,,,A-2,"
    result = run_import(csv_file(tmp_path, [HEADER, *rows]), org.id, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["imported"] is False
    assert (report["created"], report["updated"]) == (0, 0)
    [rejected] = report["rejected"]
    assert rejected["line"] == 3
    assert f"12/02/{YEAR} 9:00 AM" in rejected["reason"]
    assert "2026-12-01 15:30" in rejected["reason"]
    assert "2026-12-01T15:30:00-05:00" in rejected["reason"]
    assert count(factory) == 0


def test_every_bad_row_is_reported_and_nothing_is_imported(
    tmp_path: Path,
    org: Org,
    people: dict[str, int],
    run_import: Any,
    factory: sessionmaker[Session],
) -> None:
    rows = [
        *good_rows(people),
        f"P-404,,,{YEAR}-12-04 10:00,,,A-4,",
        "P-1,,,2020-12-04 10:00,,,A-5,",
        f"P-1,,,{YEAR}-12-04 10:00,,Nowhere,A-6,",
        f"P-1,,,{YEAR}-12-04 10:00,,,A-7,done",
        f",,,{YEAR}-12-04 10:00,,,A-8,",
        f"P-1,,,{YEAR}-12-04 10:00,,,A-1,",
        f"P-1,,,{YEAR}-12-04 10:00,,,A-9,completed",
    ]
    result = run_import(csv_file(tmp_path, [HEADER, *rows]), org.id, "--json")
    assert result.exit_code == 1
    reasons = {r["line"]: r["reason"] for r in json.loads(result.stdout)["rejected"]}
    assert sorted(reasons) == [5, 6, 7, 8, 9, 10, 11]
    assert "No patient has the external id 'P-404'" in reasons[5]
    assert "in the past" in reasons[6]
    assert "There is no location 'Nowhere'" in reasons[7]
    assert "'done' is not an appointment status" in reasons[8]
    assert "names no patient" in reasons[9]
    assert "also on line 2" in reasons[10] and "Merge lines 2 and 10" in reasons[10]
    assert "has not started yet" in reasons[11]
    assert count(factory) == 0

    human = run_import(csv_file(tmp_path, [HEADER, *rows], "again.csv"), org.id)
    assert human.exit_code == 1
    assert "Rejected rows" in human.stdout
    assert "Nothing imported" in human.stdout


def test_skip_invalid_imports_the_good_rows(
    tmp_path: Path,
    org: Org,
    people: dict[str, int],
    run_import: Any,
    factory: sessionmaker[Session],
) -> None:
    rows = [*good_rows(people), f"P-404,,,{YEAR}-12-04 10:00,,,A-4,"]
    result = run_import(csv_file(tmp_path, [HEADER, *rows]), org.id, "--skip-invalid", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert (report["created"], [r["line"] for r in report["rejected"]]) == (3, [5])
    assert count(factory) == 3


def test_a_phone_two_patients_share_asks_for_their_id(
    tmp_path: Path, org: Org, people: dict[str, int], run_import: Any
) -> None:
    add_patient(org, "(415) 555-0143")  # Cho's child, on Cho's phone
    lines = [HEADER, f",,(415) 555-0143,{YEAR}-12-03 08:15,,,A-3,"]
    result = run_import(csv_file(tmp_path, lines), org.id, "--json")
    assert result.exit_code == 1
    reason = json.loads(result.stdout)["rejected"][0]["reason"]
    assert "Several patients share the phone (415) 555-0143" in reason
    assert "patient_external_id or patient_id" in reason


def test_an_appointment_cannot_change_patient_on_reimport(
    tmp_path: Path, org: Org, people: dict[str, int], run_import: Any
) -> None:
    assert run_import(csv_file(tmp_path, [HEADER, *good_rows(people)]), org.id).exit_code == 0
    lines = [HEADER, f",{people['cho']},,{YEAR}-12-01 15:30,,,A-1,"]
    result = run_import(csv_file(tmp_path, lines, "again.csv"), org.id, "--json")
    assert result.exit_code == 1
    assert "cannot change patient" in json.loads(result.stdout)["rejected"][0]["reason"]


# --- bad files -----------------------------------------------------------------------------

BAD_FILES = {
    "unknown_column": (f"patient_id,starts_at,room\n1,{YEAR}-12-01 10:00,3\n", "room"),
    "no_patient_column": (f"starts_at,provider\n{YEAR}-12-01 10:00,Dr. A\n", "patient_id"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_header_exits_2_and_imports_nothing(
    case: str, tmp_path: Path, org: Org, run_import: Any, factory: sessionmaker[Session]
) -> None:
    content, word = BAD_FILES[case]
    path = tmp_path / f"{case}.csv"
    path.write_text(content, encoding="utf-8")
    result = run_import(path, org.id, "--json")
    assert result.exit_code == 2
    message = json.loads(result.stdout)["error"]["message"]
    assert word in message and message.endswith(".")
    assert count(factory) == 0


def test_the_help_says_how_local_times_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    help_text = " ".join(CliRunner().invoke(app, ["import", "--help"]).output.split())
    assert "starts_at" in help_text
    assert "\"YYYY-MM-DD HH:MM\", read in the location's time zone, else the organization's" in (
        help_text
    )


# --- what was imported, listed ---------------------------------------------------------------


def test_appointments_list_shows_the_days_imported_appointments(
    tmp_path: Path, org: Org, people: dict[str, int], run_import: Any
) -> None:
    assert run_import(csv_file(tmp_path, [HEADER, *good_rows(people)]), org.id).exit_code == 0
    runner = CliRunner()
    day = f"{YEAR}-12-01"
    listed = runner.invoke(app, ["appointments", "list", "--org", str(org.id), "--day", day])
    assert listed.exit_code == 0, listed.output
    assert "3:30 PM" in listed.stdout and "Dr. Okafor" in listed.stdout
    assert "1 appointment(s)." in listed.stdout
    as_json = runner.invoke(
        app, ["appointments", "list", "--org", str(org.id), "--day", day, "--json"]
    )
    data = json.loads(as_json.stdout)
    assert data["day"] == day
    assert [a["external_id"] for a in data["appointments"]] == ["A-1"]
    assert data["appointments"][0] == appointments_of(org)["A-1"]
    bad = runner.invoke(app, ["appointments", "list", "--org", str(org.id), "--day", "tomorrow"])
    assert bad.exit_code == 2
    assert "YYYY-MM-DD" in bad.stderr
