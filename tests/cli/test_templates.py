"""``clinictext template``: create (with a refusal that points at the bad field), list, show,
delete, in text and as one JSON object."""

from __future__ import annotations

from tests.cli.support import Clinic, is_sentence, only_json, run_cli

REMINDER = "Hi [FName], see you [ApptDate] at [ApptTime]."


def create(clinic: Clinic, *args: str) -> dict[str, object]:
    result = run_cli(clinic.url, "template", "create", "--org", str(clinic.org_id), *args, "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = only_json(result)
    return data


def test_create_prints_the_api_shape_and_show_agrees(clinic: Clinic) -> None:
    created = create(
        clinic,
        "--name",
        "Day before",
        "--purpose",
        "reminder",
        "--body",
        REMINDER,
        "--variant",
        "es=Hola [FName], le esperamos el [ApptDate].",
    )
    assert created["fields"] == ["FName", "ApptDate", "ApptTime"]
    assert (created["encoding"], created["segments_max"]) == ("GSM-7", 1)
    assert created["variants"] == {"es": "Hola [FName], le esperamos el [ApptDate]."}
    shown = run_cli(
        clinic.url, "template", "show", str(created["id"]), "--org", str(clinic.org_id), "--json"
    )
    assert only_json(shown) == created


def test_show_prints_encoding_and_worst_case_parts(clinic: Clinic) -> None:
    body = "Hi [FName] [LName], " + "a" * 270 + " [ApptDate]"
    created = create(clinic, "--name", "Long", "--purpose", "reminder", "--body", body)
    result = run_cli(
        clinic.url, "template", "show", str(created["id"]), "--org", str(clinic.org_id)
    )
    assert result.returncode == 0, result.stderr
    assert "Encoding: GSM-7" in result.stdout
    assert "Worst case: 3 part(s)" in result.stdout
    assert "[FName] [LName] [ApptDate]" in result.stdout


def test_a_misspelled_field_is_refused_with_a_caret_under_it(clinic: Clinic) -> None:
    body = "Hi [FName],\nsee you [ApptDat]."
    result = run_cli(
        clinic.url,
        "template",
        "create",
        "--org",
        str(clinic.org_id),
        "--name",
        "Bad",
        "--purpose",
        "reminder",
        "--body",
        body,
    )
    assert result.returncode == 2
    assert "[ApptDate]" in result.stderr and "line 2, character 9" in result.stderr
    lines = result.stderr.splitlines()
    caret = next(i for i, line in enumerate(lines) if line.strip() == "^")
    assert lines[caret - 1].index("[ApptDat]") == lines[caret].index("^")
    listed = run_cli(clinic.url, "template", "list", "--org", str(clinic.org_id), "--json")
    assert only_json(listed) == {"templates": []}


def test_a_refusal_as_json_carries_position_and_suggestion(clinic: Clinic) -> None:
    result = run_cli(
        clinic.url,
        "template",
        "create",
        "--org",
        str(clinic.org_id),
        "--name",
        "Confirm",
        "--purpose",
        "confirmation",
        "--body",
        "Hi [Fname]",
        "--json",
    )
    assert result.returncode == 2
    error = only_json(result)["error"]
    assert error["code"] == "invalid_template"
    assert (error["position"], error["suggestion"]) == (3, "[FName]")
    assert is_sentence(error["message"])


def test_list_filters_by_purpose(clinic: Clinic) -> None:
    create(clinic, "--name", "Day before", "--purpose", "reminder", "--body", REMINDER)
    create(clinic, "--name", "Confirm", "--purpose", "confirmation", "--body", "[ConfirmCode]")
    org = str(clinic.org_id)
    everything = only_json(run_cli(clinic.url, "template", "list", "--org", org, "--json"))
    assert [t["name"] for t in everything["templates"]] == ["Confirm", "Day before"]
    result = run_cli(clinic.url, "template", "list", "--org", org, "--purpose", "reminder")
    assert "Day before" in result.stdout and "Confirm" not in result.stdout


def test_unknown_template_or_organization_is_an_error(clinic: Clinic) -> None:
    missing = run_cli(clinic.url, "template", "show", "999", "--org", str(clinic.org_id))
    assert missing.returncode == 2
    assert "no template 999" in missing.stderr
    other = run_cli(clinic.url, "template", "list", "--org", "999", "--json")
    assert other.returncode == 2
    assert only_json(other)["error"]["code"] == "org_not_found"


def test_delete_removes_it_from_the_list(clinic: Clinic) -> None:
    created = create(clinic, "--name", "Old", "--purpose", "general", "--body", "Hi [FName]")
    org = str(clinic.org_id)
    result = run_cli(clinic.url, "template", "delete", str(created["id"]), "--org", org)
    assert result.returncode == 0, result.stderr
    listed = only_json(run_cli(clinic.url, "template", "list", "--org", org, "--json"))
    assert listed == {"templates": []}


def test_a_variant_without_a_language_is_refused(clinic: Clinic) -> None:
    result = run_cli(
        clinic.url,
        "template",
        "create",
        "--org",
        str(clinic.org_id),
        "--name",
        "V",
        "--purpose",
        "general",
        "--body",
        "Hi",
        "--variant",
        "Hola sin idioma",
    )
    assert result.returncode == 2
    assert "LANGUAGE=TEXT" in result.stderr
