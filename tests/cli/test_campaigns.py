"""``clinictext campaign``: create with a preview (from flags or a CSV file), start, pause,
resume, cancel, show and the report, run as the installed script on both databases."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from clinictext.domain.consent import ConsentAction, ConsentLevel
from clinictext.domain.leads import LeadStage
from clinictext.services import consent, leads, patients, templates
from clinictext.store.db import make_engine, session_factory, transaction
from tests.cli.support import Clinic, is_sentence, only_json, run_cli


@pytest.fixture
def seeded(clinic: Clinic) -> dict[str, int]:
    """Two more patients with marketing consent (one an open lead) and a campaign template."""
    engine = make_engine(clinic.url)
    try:
        with transaction(session_factory(engine)) as s:
            ids = {"ana": clinic.textable, "bo": clinic.never_opted_in}
            for name, phone in (("cy", "(415) 555-0131"), ("di", "(415) 555-0132")):
                pid = patients.create_patient(
                    s,
                    clinic.org_id,
                    first_name=name,
                    last_name="X",
                    phone=phone,
                    actor="t",
                    external_id=f"PM-{name}",
                ).id
                consent.record(
                    s,
                    clinic.org_id,
                    pid,
                    action=ConsentAction.OPT_IN,
                    source="web_form",
                    level=ConsentLevel.MARKETING,
                    actor="t",
                )
                ids[name] = pid
            leads.set_stage(s, clinic.org_id, ids["cy"], LeadStage.OPEN, actor="t")
            ids["template"] = templates.create(
                s,
                clinic.org_id,
                name="Offer",
                purpose="campaign",
                body="Hi [FName], cleanings are 10% off.",
                actor="t",
            ).id
            return ids
    finally:
        engine.dispose()


def create(clinic: Clinic, template: int, *args: str) -> dict[str, object]:
    result = run_cli(
        clinic.url,
        "campaign",
        "create",
        "--org",
        str(clinic.org_id),
        "--name",
        "Offer",
        "--template",
        str(template),
        *args,
        "--json",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data: dict[str, object] = only_json(result)
    return data


def test_create_prints_the_preview_and_start_writes_the_texts(
    clinic: Clinic, seeded: dict[str, int]
) -> None:
    table = run_cli(
        clinic.url,
        "campaign",
        "create",
        "--org",
        str(clinic.org_id),
        "--name",
        "Offer",
        "--template",
        str(seeded["template"]),
        "--all",
    )
    assert table.returncode == 0, table.stderr
    assert "is draft" in table.stdout
    assert "consent" in table.stdout and "No marketing consent" in table.stdout
    data = create(clinic, seeded["template"], "--all")
    assert data["status"] == "draft"
    assert data["preview"] == {"recipients": 2, "skipped": 2, "skip_reasons": {"consent": 2}}
    cid = str(data["id"])
    started = only_json(
        run_cli(clinic.url, "campaign", "start", cid, "--org", str(clinic.org_id), "--json")
    )
    assert started["status"] == "running"
    counts = started["counts"]
    assert counts["queued"] + counts["scheduled"] == 2
    shown = only_json(run_cli(clinic.url, "campaign", "show", cid, "--json"))
    assert shown["id"] == data["id"] and shown["counts"] == counts


def test_refused_actions_exit_1_with_the_reason(clinic: Clinic, seeded: dict[str, int]) -> None:
    cid = str(create(clinic, seeded["template"], "--all")["id"])
    org = str(clinic.org_id)
    paused = run_cli(clinic.url, "campaign", "pause", cid, "--org", org)
    assert paused.returncode == 1
    assert "not been started" in paused.stderr
    assert run_cli(clinic.url, "campaign", "start", cid, "--org", org).returncode == 0
    assert run_cli(clinic.url, "campaign", "pause", cid, "--org", org).returncode == 0
    assert run_cli(clinic.url, "campaign", "resume", cid, "--org", org).returncode == 0
    assert run_cli(clinic.url, "campaign", "cancel", cid, "--org", org).returncode == 0
    again = run_cli(clinic.url, "campaign", "start", cid, "--org", org, "--json")
    assert again.returncode == 1
    error = only_json(again)["error"]
    assert error["code"] == "campaign_canceled" and is_sentence(error["message"])


def test_bad_input_exits_2_with_one_sentence(clinic: Clinic, seeded: dict[str, int]) -> None:
    org = str(clinic.org_id)
    nobody = run_cli(
        clinic.url,
        "campaign",
        "create",
        "--org",
        org,
        "--name",
        "x",
        "--template",
        str(seeded["template"]),
        "--lead-stage",
        "closed_lost",
        "--json",
    )
    assert nobody.returncode == 2
    assert only_json(nobody)["error"]["code"] == "no_recipients"
    naive = run_cli(
        clinic.url,
        "campaign",
        "create",
        "--org",
        org,
        "--name",
        "x",
        "--template",
        str(seeded["template"]),
        "--all",
        "--send-at",
        "2030-01-01T09:00",
    )
    assert naive.returncode == 2
    assert "time zone" in naive.stderr
    missing = run_cli(clinic.url, "campaign", "show", "987654", "--json")
    assert missing.returncode == 2
    assert only_json(missing)["error"]["code"] == "campaign_not_found"


def test_an_audience_csv_reports_the_lines_that_match_no_patient(
    clinic: Clinic, seeded: dict[str, int], tmp_path: Path
) -> None:
    path = tmp_path / "audience.csv"
    path.write_text("external_id,name\nPM-cy,Cy\nPM-zz,Nobody\nPM-di,Di\n", encoding="utf-8")
    data = create(clinic, seeded["template"], "--audience-csv", str(path))
    assert data["audience"] == {"patient_ids": [seeded["cy"], seeded["di"]]}
    assert data["unmatched"] == [
        {
            "line": 3,
            "value": "PM-zz",
            "reason": "No patient of the organization has the external_id 'PM-zz'.",
        }
    ]
    shown = run_cli(
        clinic.url,
        "campaign",
        "create",
        "--org",
        str(clinic.org_id),
        "--name",
        "x",
        "--template",
        str(seeded["template"]),
        "--audience-csv",
        str(path),
        "--patient",
        str(seeded["di"]),
    )
    assert shown.returncode == 0, shown.stderr
    assert "PM-zz" in shown.stderr  # the per-line report
    assert "1 chosen patient" in shown.stdout  # the file and --patient intersect
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xff\xfe not text")
    refused = run_cli(
        clinic.url,
        "campaign",
        "create",
        "--org",
        str(clinic.org_id),
        "--name",
        "x",
        "--template",
        str(seeded["template"]),
        "--audience-csv",
        str(bad),
        "--json",
    )
    assert refused.returncode == 2


def test_report_lists_every_recipient_and_writes_the_csv(
    clinic: Clinic, seeded: dict[str, int], tmp_path: Path
) -> None:
    cid = str(create(clinic, seeded["template"], "--all")["id"])
    org = str(clinic.org_id)
    run_cli(clinic.url, "campaign", "start", cid, "--org", org)
    report = only_json(run_cli(clinic.url, "campaign", "report", cid, "--org", org, "--json"))
    rows = {r["patient_id"]: r for r in report["recipients"]}
    assert rows[seeded["bo"]]["status"] == "skipped"
    assert rows[seeded["bo"]]["skip_reason"] == "consent"
    assert rows[seeded["cy"]]["message_id"]
    out = tmp_path / "report.csv"
    written = run_cli(clinic.url, "campaign", "report", cid, "--org", org, "--csv", str(out))
    assert written.returncode == 0, written.stderr
    with out.open(encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert sorted(int(r["patient_id"]) for r in table) == sorted(rows)
    listed = only_json(run_cli(clinic.url, "campaign", "list", "--org", org, "--json"))
    assert [c["id"] for c in listed["campaigns"]] == [int(cid)]
