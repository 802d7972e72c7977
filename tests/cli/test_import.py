"""``clinictext import``: patients from a CSV file, all rows or none (SPEC §1, §7; importing.py).

Most runs go through Typer's CliRunner on ``clinictext.cli.app`` (fast); one goes through the
installed script in a subprocess to show the progress bar leaves non-terminal output clean.
Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from clinictext.cli import app
from clinictext.config import get_settings
from clinictext.domain.consent import ConsentAction, ConsentLevel
from clinictext.services import consent, importing, patients
from clinictext.store.db import transaction
from clinictext.store.models import Patient
from tests.conftest import Org

CLINICTEXT = str(Path(sys.executable).with_name("clinictext"))
HEADER = "first_name,last_name,phone,external_id,consent,consent_source,lead_stage,lead_substatus"
GOOD_ROWS = [
    "Ana,Diaz,(415) 555-0141,P-1,marketing,web_form,open,",
    "Ben,Okafor,(415) 555-0142,P-2,informational,paper_form,in_progress,1st contact",
    "Cho,Park,+1 415 555 0143,P-3,informational,,closed_won,scheduled",
]


def csv_file(tmp_path: Path, lines: list[str], name: str = "patients.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def org(make_org: Callable[[str], Org]) -> Org:
    return make_org("Import Clinic")


@pytest.fixture
def run_import(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    """Run ``clinictext import`` in-process against the test database."""
    monkeypatch.setenv("CLINICTEXT_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    runner = CliRunner()

    def run(path: Path, org_id: int, *options: str) -> Any:
        return runner.invoke(app, ["import", str(path), "--org", str(org_id), *options])

    yield run
    get_settings.cache_clear()


def patient_count(factory: sessionmaker[Session], org_id: int) -> int:
    with factory() as s:
        query = select(func.count()).select_from(Patient).where(Patient.organization_id == org_id)
        return int(s.scalar(query) or 0)


def by_external_id(org: Org) -> dict[str, dict[str, Any]]:
    answer = org.get("/patients", params={"limit": 200})
    assert answer.status_code == 200
    return {p["external_id"]: p for p in answer.json()}


# --- a good file -------------------------------------------------------------------------------


def test_good_file_creates_every_patient_with_consent_and_lead(
    tmp_path: Path, org: Org, run_import: Any
) -> None:
    result = run_import(csv_file(tmp_path, [HEADER, *GOOD_ROWS]), org.id, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report == {"rows": 3, "created": 3, "updated": 0, "rejected": [], "imported": True}

    found = by_external_id(org)
    assert set(found) == {"P-1", "P-2", "P-3"}
    ana, ben, cho = found["P-1"], found["P-2"], found["P-3"]
    assert (ana["first_name"], ana["last_name"]) == ("Ana", "Diaz")
    # SPEC §1: a number without a country code is read as US and stored as E.164.
    assert ana["phone"] == "+14155550141"
    assert cho["phone"] == "+14155550143"

    one = org.get(f"/patients/{ana['id']}")
    assert one.status_code == 200
    assert one.json()["external_id"] == "P-1"

    ana_consent = org.get(f"/patients/{ana['id']}/consent").json()
    assert (ana_consent["state"], ana_consent["level"]) == ("opted_in", "marketing")
    ben_consent = org.get(f"/patients/{ben['id']}/consent").json()
    assert (ben_consent["state"], ben_consent["level"]) == ("opted_in", "informational")
    assert ben_consent["history"][-1]["source"] == "paper_form"

    assert org.get(f"/patients/{ana['id']}/lead").json()["stage"] == "open"
    ben_lead = org.get(f"/patients/{ben['id']}/lead").json()
    assert (ben_lead["stage"], ben_lead["substatus"], ben_lead["active"]) == (
        "in_progress",
        "1st contact",
        True,
    )
    cho_lead = org.get(f"/patients/{cho['id']}/lead").json()
    assert (cho_lead["stage"], cho_lead["substatus"], cho_lead["active"]) == (
        "closed_won",
        "scheduled",
        False,
    )


def test_file_saved_by_excel_with_a_byte_order_mark_imports(
    tmp_path: Path, org: Org, run_import: Any
) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(("\n".join([HEADER, *GOOD_ROWS]) + "\n").encode("utf-8-sig"))
    result = run_import(path, org.id, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["created"] == 3


def test_reimport_with_the_same_external_id_updates_instead_of_duplicating(
    tmp_path: Path, org: Org, run_import: Any, factory: sessionmaker[Session]
) -> None:
    assert run_import(csv_file(tmp_path, [HEADER, *GOOD_ROWS]), org.id).exit_code == 0
    first_ids = {k: v["id"] for k, v in by_external_id(org).items()}

    changed = [HEADER, *GOOD_ROWS]
    changed[1] = "Ana,Diaz-Lopez,(415) 555-0151,P-1,marketing,web_form,open,"
    result = run_import(csv_file(tmp_path, changed, "again.csv"), org.id, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["created"], report["updated"], report["imported"]) == (0, 3, True)

    assert patient_count(factory, org.id) == 3
    found = by_external_id(org)
    assert {k: v["id"] for k, v in found.items()} == first_ids
    assert found["P-1"]["last_name"] == "Diaz-Lopez"
    assert found["P-1"]["phone"] == "+14155550151"


# --- bad rows ----------------------------------------------------------------------------------


def test_one_bad_row_imports_nothing_and_reports_its_line(
    tmp_path: Path, org: Org, run_import: Any, rows: Callable[[], dict[str, int]]
) -> None:
    lines = [HEADER, GOOD_ROWS[0], "Bad,Phone,12,P-9,,,,", GOOD_ROWS[1]]
    before = rows()
    result = run_import(csv_file(tmp_path, lines), org.id, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["imported"] is False
    assert report["created"] == 0
    assert len(report["rejected"]) == 1
    # The header is line 1, so the second data row is line 3.
    assert report["rejected"][0]["line"] == 3
    assert "12" in report["rejected"][0]["reason"]
    assert rows() == before  # not one patient, consent, lead or audit row


def test_one_bad_row_human_report_names_the_line_and_reason(
    tmp_path: Path, org: Org, run_import: Any, factory: sessionmaker[Session]
) -> None:
    lines = [HEADER, GOOD_ROWS[0], "Bad,Phone,12,P-9,,,,", GOOD_ROWS[1]]
    result = run_import(csv_file(tmp_path, lines), org.id)
    assert result.exit_code == 1
    bad_line = next(line for line in result.stdout.splitlines() if "'12'" in line)
    assert " 3 " in bad_line
    assert "Nothing imported" in result.stdout
    assert "--skip-invalid" in result.stdout
    assert patient_count(factory, org.id) == 0


def test_every_bad_row_is_reported_not_just_the_first(
    tmp_path: Path, org: Org, run_import: Any
) -> None:
    lines = [
        HEADER,
        "Bad,One,12,,,,,",
        GOOD_ROWS[0],
        "Bad,Two,(415) 555-0144,,gold,,,",
        "Bad,Three,(415) 555-0145,,,,won,",
    ]
    result = run_import(csv_file(tmp_path, lines), org.id, "--json")
    assert result.exit_code == 1
    rejected = json.loads(result.stdout)["rejected"]
    assert [r["line"] for r in rejected] == [2, 4, 5]
    assert "gold" in rejected[1]["reason"]
    assert "won" in rejected[2]["reason"]


def test_bad_row_line_number_counts_lines_inside_quoted_multiline_fields(
    tmp_path: Path, org: Org, run_import: Any
) -> None:
    # importing.Rejected.line is "the line number in the file, counting the header as line 1";
    # a quoted consent_evidence spanning two lines pushes the bad row down to line 4.
    path = tmp_path / "multiline.csv"
    path.write_text(
        "first_name,last_name,phone,consent,consent_evidence\n"
        'Ana,Diaz,(415) 555-0171,informational,"Said yes on the phone.\nConfirmed at the desk."\n'
        "Bad,Phone,12,,\n",
        encoding="utf-8",
    )
    result = run_import(path, org.id, "--json")
    assert result.exit_code == 1
    rejected = json.loads(result.stdout)["rejected"]
    assert len(rejected) == 1
    assert "12" in rejected[0]["reason"]
    assert rejected[0]["line"] == 4


def test_skip_invalid_imports_the_good_rows_and_reports_the_bad_one(
    tmp_path: Path, org: Org, run_import: Any, factory: sessionmaker[Session]
) -> None:
    lines = [HEADER, GOOD_ROWS[0], "Bad,Phone,12,P-9,,,,", GOOD_ROWS[1]]
    result = run_import(csv_file(tmp_path, lines), org.id, "--skip-invalid", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["imported"] is True
    assert report["created"] == 2
    assert [r["line"] for r in report["rejected"]] == [3]
    assert set(by_external_id(org)) == {"P-1", "P-2"}
    assert patient_count(factory, org.id) == 2


def test_skip_invalid_when_every_row_is_bad_imports_nothing_and_exits_1(
    tmp_path: Path, org: Org, run_import: Any, factory: sessionmaker[Session]
) -> None:
    lines = [HEADER, "Bad,One,12,,,,,", "Bad,Two,13,,,,,"]
    result = run_import(csv_file(tmp_path, lines), org.id, "--skip-invalid", "--json")
    assert patient_count(factory, org.id) == 0
    report = json.loads(result.stdout)
    assert [r["line"] for r in report["rejected"]] == [2, 3]
    assert report["created"] == 0
    assert result.exit_code == 1  # nothing was imported


def test_staff_cannot_opt_back_in_a_patient_who_replied_stop(
    tmp_path: Path,
    org: Org,
    run_import: Any,
    factory: sessionmaker[Session],
    rows: Callable[[], dict[str, int]],
) -> None:
    with transaction(factory) as s:
        dan = patients.create_patient(
            s,
            org.id,
            first_name="Dan",
            last_name="Stopped",
            phone="(415) 555-0160",
            external_id="P-60",
            actor="test",
        ).id
        consent.record(
            s,
            org.id,
            dan,
            action=ConsentAction.OPT_IN,
            source="web_form",
            level=ConsentLevel.INFORMATIONAL,
            actor="test",
        )
        consent.record(
            s,
            org.id,
            dan,
            action=ConsentAction.OPT_OUT,
            source="keyword",
            evidence="replied STOP",
            actor="test",
            by_patient=True,
        )
    before = rows()
    lines = [HEADER, GOOD_ROWS[0], "Dan,Stopped,(415) 555-0160,P-60,informational,import,,"]
    result = run_import(csv_file(tmp_path, lines), org.id, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [r["line"] for r in report["rejected"]] == [3]
    assert "START" in report["rejected"][0]["reason"]
    assert rows() == before
    assert org.get(f"/patients/{dan}/consent").json()["state"] == "opted_out"


def test_opt_out_by_keyword_covers_the_phone_even_on_a_new_patient_row(
    tmp_path: Path, org: Org, run_import: Any, factory: sessionmaker[Session]
) -> None:
    # Consent is kept per phone number (SPEC §1): a new record with the same phone cannot
    # carry an opt-in past the patient's STOP.
    with transaction(factory) as s:
        dan = patients.create_patient(
            s,
            org.id,
            first_name="Dan",
            last_name="Stopped",
            phone="(415) 555-0161",
            actor="test",
        ).id
        consent.record(
            s,
            org.id,
            dan,
            action=ConsentAction.OPT_OUT,
            source="keyword",
            evidence="replied STOP",
            actor="test",
            by_patient=True,
        )
    lines = [HEADER, GOOD_ROWS[0], "Daniel,Stopped,(415) 555-0161,P-61,marketing,web_form,,"]
    result = run_import(csv_file(tmp_path, lines), org.id, "--skip-invalid", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["created"] == 1
    assert [r["line"] for r in report["rejected"]] == [3]
    assert "P-61" not in by_external_id(org)
    assert org.get(f"/patients/{dan}/consent").json()["state"] == "opted_out"


def test_an_external_id_twice_in_one_file_rejects_the_later_row_naming_both_lines(
    tmp_path: Path, org: Org, run_import: Any, rows: Callable[[], dict[str, int]]
) -> None:
    lines = [
        HEADER,
        GOOD_ROWS[0],  # line 2: P-1
        GOOD_ROWS[1],
        "Anna,Diaz,(415) 555-0149,P-1,informational,verbal,,",  # line 4: P-1 again
    ]
    before = rows()
    result = run_import(csv_file(tmp_path, lines), org.id, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["imported"] is False
    assert [r["line"] for r in report["rejected"]] == [4]
    reason = report["rejected"][0]["reason"]
    assert "P-1" in reason and "line 2" in reason and "4" in reason
    assert rows() == before


def test_skip_invalid_keeps_the_first_row_of_a_repeated_external_id(
    tmp_path: Path, org: Org, run_import: Any, factory: sessionmaker[Session]
) -> None:
    lines = [HEADER, GOOD_ROWS[0], "Anna,Diaz,(415) 555-0149,P-1,,,,", GOOD_ROWS[1]]
    result = run_import(csv_file(tmp_path, lines), org.id, "--skip-invalid", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["created"], report["updated"]) == (2, 0)
    assert [r["line"] for r in report["rejected"]] == [3]
    found = by_external_id(org)
    assert (found["P-1"]["first_name"], found["P-1"]["phone"]) == ("Ana", "+14155550141")
    assert patient_count(factory, org.id) == 2


@pytest.mark.parametrize("first_name", ["", "   ", "\t"])
def test_a_row_without_a_first_name_is_rejected(
    tmp_path: Path, org: Org, run_import: Any, factory: sessionmaker[Session], first_name: str
) -> None:
    lines = [HEADER, GOOD_ROWS[0], f"{first_name},Nobody,(415) 555-0148,P-8,,,,"]
    result = run_import(csv_file(tmp_path, lines), org.id, "--json")
    assert result.exit_code == 1
    rejected = json.loads(result.stdout)["rejected"]
    assert [r["line"] for r in rejected] == [3]
    assert "first_name" in rejected[0]["reason"]
    assert patient_count(factory, org.id) == 0


@pytest.mark.parametrize("first_name", ["", "   "])
def test_the_api_refuses_a_blank_first_name_as_the_import_does(org: Org, first_name: str) -> None:
    created = org.post("/patients", {"first_name": first_name, "last_name": "Diaz"})
    assert created.status_code == 422
    assert created.json()["error"]["code"] == "invalid_name"
    ana = org.post("/patients", {"first_name": "Ana", "last_name": ""})
    assert ana.status_code == 201  # a last name may be blank
    patched = org.patch(f"/patients/{ana.json()['id']}", {"first_name": first_name})
    assert patched.status_code == 422
    assert patched.json()["error"]["code"] == "invalid_name"


def test_an_unknown_consent_source_is_rejected_naming_the_allowed_ones(
    tmp_path: Path, org: Org, run_import: Any
) -> None:
    lines = [HEADER, "Ana,Diaz,(415) 555-0141,P-1,marketing,website,open,"]
    result = run_import(csv_file(tmp_path, lines), org.id, "--json")
    assert result.exit_code == 1
    reason = json.loads(result.stdout)["rejected"][0]["reason"]
    assert "website" in reason
    for source in importing.CONSENT_SOURCES:
        assert source in reason


def test_import_help_lists_the_consent_sources(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    help_text = " ".join(CliRunner().invoke(app, ["import", "--help"]).output.split())
    assert importing.CONSENT_SOURCES == ("web_form", "paper_form", "verbal", "import", "api")
    assert "consent_source (how the patient agreed: web_form, paper_form, verbal," in help_text
    assert "import or api; import when empty)" in help_text


# --- bad files ---------------------------------------------------------------------------------

BAD_FILES = {
    "not_utf8": (b"first_name,last_name\nJos\xe9,Garc\xeda\n", "UTF-8"),
    "unknown_column": (b"first_name,last_name,fone\nAna,Diaz,(415) 555-0141\n", "fone"),
    "missing_first_name": (b"last_name,phone\nDiaz,(415) 555-0141\n", "first_name"),
    "empty": (b"", "empty"),
    "binary_nul": (b"first_name,last_name\nAna\x00\x01\x02,Diaz\n", "binary"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_exits_2_with_a_clear_message_and_imports_nothing(
    case: str, tmp_path: Path, org: Org, run_import: Any, rows: Callable[[], dict[str, int]]
) -> None:
    content, expected_word = BAD_FILES[case]
    path = tmp_path / f"{case}.csv"
    path.write_bytes(content)
    before = rows()

    as_json = run_import(path, org.id, "--json")
    assert as_json.exit_code == 2
    error = json.loads(as_json.stdout)["error"]
    assert error["code"]
    assert expected_word.lower() in error["message"].lower()
    assert error["message"].rstrip().endswith(".")

    human = run_import(path, org.id)
    assert human.exit_code == 2
    assert expected_word.lower() in human.stderr.lower()
    assert "Traceback" not in human.output
    assert rows() == before


def test_import_into_an_unknown_org_exits_2(tmp_path: Path, run_import: Any, db_url: str) -> None:
    result = run_import(csv_file(tmp_path, [HEADER, *GOOD_ROWS]), 999, "--json")
    assert result.exit_code == 2
    assert "999" in json.loads(result.stdout)["error"]["message"]


# --- the real script, and scale ---------------------------------------------------------------


def test_script_output_stays_clean_when_not_a_terminal(
    tmp_path: Path, org: Org, db_url: str, factory: sessionmaker[Session]
) -> None:
    env = {**os.environ, "CLINICTEXT_DATABASE_URL": db_url}
    path = csv_file(tmp_path, [HEADER, *GOOD_ROWS])

    human = subprocess.run(
        [CLINICTEXT, "import", str(path), "--org", str(org.id)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert human.returncode == 0, human.stderr
    assert "Imported: 3 created, 0 updated, 0 rejected." in human.stdout
    assert "\x1b" not in human.stdout
    assert "\r" not in human.stdout
    assert "Traceback" not in human.stderr

    again = csv_file(tmp_path, [HEADER, *GOOD_ROWS], "again.csv")
    as_json = subprocess.run(
        [CLINICTEXT, "import", str(again), "--org", str(org.id), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == {
        "rows": 3,
        "created": 0,
        "updated": 3,
        "rejected": [],
        "imported": True,
    }
    assert patient_count(factory, org.id) == 3


def test_two_thousand_rows_import_in_one_go(
    tmp_path: Path, org: Org, run_import: Any, factory: sessionmaker[Session]
) -> None:
    lines = [HEADER] + [
        f"First{n},Last{n},(415) 555-{n:04d},X-{n},informational,import,,"
        for n in range(1000, 3000)
    ]
    result = run_import(csv_file(tmp_path, lines), org.id, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["rows"], report["created"], report["rejected"]) == (2000, 2000, [])
    assert patient_count(factory, org.id) == 2000
    with factory() as s:
        phones = set(s.scalars(select(Patient.phone).where(Patient.organization_id == org.id)))
    assert "+14155551000" in phones
    assert "+14155552999" in phones
