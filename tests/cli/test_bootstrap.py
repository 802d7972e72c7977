"""The bootstrap command line, run as the installed ``clinictext`` script (API.md, SPEC §3, §7).

Every test runs the real console script in a subprocess against a database named by
``CLINICTEXT_DATABASE_URL``: once on a brand-new SQLite file (so ``db upgrade`` really builds
the schema) and once on the throwaway PostgreSQL database.
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from clinictext.api.app import create_app
from clinictext.config import Settings
from clinictext.store.db import make_engine, session_factory
from clinictext.store.models import ApiKey
from tests.cli.support import (
    SPEC_CHECK_ORDER,
    Clinic,
    is_sentence,
    message_count,
    only_json,
    run_cli,
)

# --- db upgrade, org create, apikey create ---------------------------------------------------


def test_db_upgrade_then_org_and_apikey_create_print_the_documented_json(cli_url: str) -> None:
    upgraded = run_cli(cli_url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr

    org = run_cli(cli_url, "org", "create", "--name", "Demo Clinic", "--json")
    assert org.returncode == 0, org.stderr
    assert only_json(org) == {"id": 1, "name": "Demo Clinic"}

    key = run_cli(cli_url, "apikey", "create", "--org", "1", "--json")
    assert key.returncode == 0, key.stderr
    data = only_json(key)
    assert set(data) == {"id", "key"}
    assert data["id"] == 1
    assert data["key"].startswith("ct_")


def test_db_upgrade_can_run_twice(cli_url: str) -> None:
    assert run_cli(cli_url, "db", "upgrade").returncode == 0
    again = run_cli(cli_url, "db", "upgrade")
    assert again.returncode == 0, again.stderr


def test_new_api_key_is_stored_hashed_and_opens_the_api(cli_url: str) -> None:
    assert run_cli(cli_url, "db", "upgrade").returncode == 0
    assert run_cli(cli_url, "org", "create", "--name", "Demo Clinic", "--json").returncode == 0
    key = only_json(run_cli(cli_url, "apikey", "create", "--org", "1", "--json"))["key"]

    engine = make_engine(cli_url)
    try:
        with session_factory(engine)() as s:
            stored = s.scalars(select(ApiKey)).all()
        assert len(stored) == 1
        assert key not in (stored[0].key_hash, stored[0].prefix)
    finally:
        engine.dispose()

    with TestClient(create_app(Settings(database_url=cli_url))) as client:
        answer = client.get("/api/v1/org", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200
    assert answer.json()["id"] == 1
    assert answer.json()["name"] == "Demo Clinic"


def test_apikey_create_for_an_unknown_org_exits_2_with_a_sentence(cli_url: str) -> None:
    assert run_cli(cli_url, "db", "upgrade").returncode == 0

    human = run_cli(cli_url, "apikey", "create", "--org", "99")
    assert human.returncode == 2
    assert "99" in human.stderr
    assert is_sentence(human.stderr.removeprefix("Error:").strip())

    as_json = run_cli(cli_url, "apikey", "create", "--org", "99", "--json")
    assert as_json.returncode == 2
    error = only_json(as_json)["error"]
    assert re.fullmatch(r"[a-z]+(_[a-z]+)*", error["code"])
    assert "99" in error["message"]
    assert is_sentence(error["message"])


def test_org_create_with_a_blank_name_exits_2_with_a_sentence(cli_url: str) -> None:
    assert run_cli(cli_url, "db", "upgrade").returncode == 0
    result = run_cli(cli_url, "org", "create", "--name", "   ", "--json")
    assert result.returncode == 2
    assert is_sentence(only_json(result)["error"]["message"])


# --- can-text ----------------------------------------------------------------------------------


def test_can_text_exits_0_for_a_patient_who_can_be_texted(clinic: Clinic) -> None:
    result = run_cli(clinic.url, "can-text", str(clinic.textable), "--org", str(clinic.org_id))
    assert result.returncode == 0, result.stdout + result.stderr


def test_can_text_exits_1_for_a_patient_who_never_opted_in(clinic: Clinic) -> None:
    result = run_cli(
        clinic.url, "can-text", str(clinic.never_opted_in), "--org", str(clinic.org_id)
    )
    assert result.returncode == 1


def test_can_text_json_lists_every_check_in_spec_order(clinic: Clinic) -> None:
    result = run_cli(
        clinic.url, "can-text", str(clinic.textable), "--org", str(clinic.org_id), "--json"
    )
    assert result.returncode == 0
    data = only_json(result)
    assert set(data) == {"can_text", "channel", "kind", "checks"}
    assert data["can_text"] is True
    assert data["channel"] == "clinic"
    assert data["kind"] == "manual"
    assert [c["id"] for c in data["checks"]] == SPEC_CHECK_ORDER
    for check in data["checks"]:
        assert set(check) == {"id", "ok", "detail", "fix"}
        assert check["ok"] is True
        assert check["detail"]


def test_can_text_json_for_a_refused_patient_gives_each_failing_check_a_fix(
    clinic: Clinic,
) -> None:
    result = run_cli(
        clinic.url, "can-text", str(clinic.never_opted_in), "--org", str(clinic.org_id), "--json"
    )
    assert result.returncode == 1
    data = only_json(result)
    assert data["can_text"] is False
    assert [c["id"] for c in data["checks"]] == SPEC_CHECK_ORDER
    failing = {c["id"]: c for c in data["checks"] if not c["ok"]}
    assert set(failing) == {"consent"}
    assert "opt in" in failing["consent"]["fix"].lower()


def test_can_text_honours_channel_and_kind(clinic: Clinic) -> None:
    # Ana opted in to care texts only and is not a lead: a campaign on the lead channel needs
    # marketing consent (consent fails); an active lead is needed only for lead conversations,
    # not for campaign texts, which share the lead number.
    result = run_cli(
        clinic.url,
        "can-text",
        str(clinic.textable),
        "--org",
        str(clinic.org_id),
        "--channel",
        "lead",
        "--kind",
        "campaign",
        "--json",
    )
    assert result.returncode == 1
    data = only_json(result)
    assert data["channel"] == "lead"
    assert data["kind"] == "campaign"
    assert [c["id"] for c in data["checks"]] == SPEC_CHECK_ORDER
    assert {c["id"] for c in data["checks"] if not c["ok"]} == {"consent"}
    staff = run_cli(
        clinic.url,
        "can-text",
        str(clinic.textable),
        "--org",
        str(clinic.org_id),
        "--channel",
        "lead",
        "--json",
    )
    assert {c["id"] for c in only_json(staff)["checks"] if not c["ok"]} == {"lead_stage"}


def test_can_text_table_names_the_failing_check_and_what_to_do(clinic: Clinic) -> None:
    result = run_cli(
        clinic.url, "can-text", str(clinic.never_opted_in), "--org", str(clinic.org_id)
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    rows = {
        check: next(line for line in lines if re.search(rf"\b{check}\b", line))
        for check in SPEC_CHECK_ORDER
    }
    assert re.search(r"\bno\b", rows["consent"])
    assert "opt in" in rows["consent"].lower()
    for check in set(SPEC_CHECK_ORDER) - {"consent"}:
        assert re.search(r"\byes\b", rows[check]), rows[check]
    assert "cannot be texted" in result.stdout


def test_can_text_table_for_a_textable_patient_says_yes(clinic: Clinic) -> None:
    result = run_cli(clinic.url, "can-text", str(clinic.textable), "--org", str(clinic.org_id))
    assert result.returncode == 0
    assert "\x1b" not in result.stdout
    assert "can be texted" in result.stdout
    assert "cannot" not in result.stdout


def test_can_text_for_an_unknown_patient_exits_2_with_a_sentence(clinic: Clinic) -> None:
    result = run_cli(clinic.url, "can-text", "999", "--org", str(clinic.org_id), "--json")
    assert result.returncode == 2
    message = only_json(result)["error"]["message"]
    assert "999" in message
    assert is_sentence(message)


# --- send --------------------------------------------------------------------------------------


def test_send_queues_a_text_for_a_textable_patient(clinic: Clinic) -> None:
    result = run_cli(
        clinic.url,
        "send",
        str(clinic.textable),
        "--org",
        str(clinic.org_id),
        "--body",
        "Hi Ana, your records are ready.",
        "--json",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data = only_json(result)
    assert isinstance(data["id"], int)
    assert data["status"] == "queued"
    assert message_count(clinic.url) == 1


def test_send_to_a_refused_patient_exits_1_with_the_failing_checks_fix(clinic: Clinic) -> None:
    verdict = only_json(
        run_cli(
            clinic.url,
            "can-text",
            str(clinic.never_opted_in),
            "--org",
            str(clinic.org_id),
            "--json",
        )
    )
    consent_fix = next(c["fix"] for c in verdict["checks"] if c["id"] == "consent")

    result = run_cli(
        clinic.url,
        "send",
        str(clinic.never_opted_in),
        "--org",
        str(clinic.org_id),
        "--body",
        "Hi Bo",
    )
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "consent" in output
    assert consent_fix in output
    assert message_count(clinic.url) == 0


def test_send_json_when_refused_lists_every_check_and_writes_nothing(clinic: Clinic) -> None:
    result = run_cli(
        clinic.url,
        "send",
        str(clinic.never_opted_in),
        "--org",
        str(clinic.org_id),
        "--body",
        "Hi Bo",
        "--json",
    )
    assert result.returncode == 1
    error = only_json(result)["error"]
    assert error["code"] == "cannot_text"
    assert [c["id"] for c in error["checks"]] == SPEC_CHECK_ORDER
    assert {c["id"] for c in error["checks"] if not c["ok"]} == {"consent"}
    assert message_count(clinic.url) == 0
