"""``clinictext user``: create (the documented JSON), list, disable, enable, reset-password.
Passwords come from standard input and never appear in the output."""

from __future__ import annotations

import json
import os
import subprocess

from tests.cli.support import CLINICTEXT, is_sentence, only_json, run_cli


def with_stdin(url: str, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLINICTEXT_DATABASE_URL": url, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [CLINICTEXT, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_user_commands_from_create_to_reset(cli_url: str) -> None:
    assert run_cli(cli_url, "db", "upgrade").returncode == 0
    org = only_json(run_cli(cli_url, "org", "create", "--name", "Clinic", "--json"))
    created = with_stdin(
        cli_url,
        "s3cret-password\n",
        "user",
        "create",
        "--org",
        str(org["id"]),
        "--email",
        "Desk@Clinic.example",
        "--role",
        "staff",
        "--password-stdin",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    data = only_json(created)
    assert data == {"id": data["id"], "email": "desk@clinic.example", "role": "staff"}
    assert "s3cret-password" not in created.stdout + created.stderr

    listed = only_json(run_cli(cli_url, "user", "list", "--org", str(org["id"]), "--json"))
    assert listed["users"] == [
        {"id": data["id"], "email": "desk@clinic.example", "role": "staff", "disabled": False}
    ]
    text = run_cli(cli_url, "user", "list", "--org", str(org["id"]))
    assert "desk@clinic.example" in text.stdout and "active" in text.stdout

    disabled = run_cli(
        cli_url,
        "user",
        "disable",
        "--org",
        str(org["id"]),
        "--email",
        "desk@clinic.example",
        "--json",
    )
    assert only_json(disabled)["disabled"] is True
    enabled = run_cli(
        cli_url,
        "user",
        "enable",
        "--org",
        str(org["id"]),
        "--email",
        "desk@clinic.example",
        "--json",
    )
    assert only_json(enabled)["disabled"] is False
    reset = with_stdin(
        cli_url,
        "another-password\n",
        "user",
        "reset-password",
        "--org",
        str(org["id"]),
        "--email",
        "desk@clinic.example",
        "--password-stdin",
    )
    assert reset.returncode == 0 and "sign-ins have ended" in reset.stdout


def test_user_create_refusals_exit_2_with_a_sentence_and_create_nothing(cli_url: str) -> None:
    assert run_cli(cli_url, "db", "upgrade").returncode == 0
    org = only_json(run_cli(cli_url, "org", "create", "--name", "Clinic", "--json"))
    org_id = str(org["id"])
    cases = [
        (
            ["--org", org_id, "--email", "nope", "--role", "staff"],
            "pw-long-enough",
            "invalid_email",
        ),
        (
            ["--org", org_id, "--email", "a@b.example", "--role", "boss"],
            "pw-long-enough",
            "invalid_role",
        ),
        (
            ["--org", org_id, "--email", "a@b.example", "--role", "staff"],
            "short",
            "invalid_password",
        ),
        (
            ["--org", "999", "--email", "a@b.example", "--role", "staff"],
            "pw-long-enough",
            "org_not_found",
        ),
    ]
    for args, password, code in cases:
        result = with_stdin(
            cli_url, password + "\n", "user", "create", *args, "--password-stdin", "--json"
        )
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        error = json.loads(result.stdout)["error"]
        assert error["code"] == code and is_sentence(error["message"]), error
    listed = only_json(run_cli(cli_url, "user", "list", "--org", org_id, "--json"))
    assert listed["users"] == []
    missing = run_cli(cli_url, "user", "disable", "--org", org_id, "--email", "x@y.example")
    assert missing.returncode == 2 and "There is no user" in missing.stderr
