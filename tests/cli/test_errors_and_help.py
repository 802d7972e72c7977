"""What the command line says when the database is not there, and what its help shows.

A database without tables, or one that cannot be reached, is an error (exit 2) explained in
one line; it must not look like a "no" answer (exit 1 of can-text and send) or a crash.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from clinictext.cli import app
from tests.cli.support import is_sentence, only_json, run_cli
from tests.pg import PostgresServer, free_port


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database that exists but was never migrated."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('empty') / 'x.db'}"
    server: PostgresServer = request.getfixturevalue("pg_server")
    admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("DROP DATABASE IF EXISTS clinictext_never_migrated"))
        conn.execute(text("CREATE DATABASE clinictext_never_migrated"))
    admin.dispose()
    return server.url("clinictext_never_migrated")


def assert_one_line_pointing_at_the_fix(stderr: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert "clinictext db upgrade" in lines[0]
    assert "CLINICTEXT_DATABASE_URL" in lines[0]
    assert is_sentence(lines[0].removeprefix("Error:").strip())


def test_can_text_on_a_database_without_tables_says_to_upgrade_and_exits_2(
    empty_url: str,
) -> None:
    result = run_cli(empty_url, "can-text", "1", "--org", "1")
    assert result.returncode == 2  # an error, not "cannot text" (1)
    assert result.stdout == ""
    assert_one_line_pointing_at_the_fix(result.stderr)
    assert "no clinictext tables" in result.stderr


def test_json_on_a_database_without_tables_is_one_error_object(empty_url: str) -> None:
    result = run_cli(empty_url, "send", "1", "--org", "1", "--body", "Hi", "--json")
    assert result.returncode == 2
    error = only_json(result)["error"]
    assert error["code"] == "database_unavailable"
    assert "clinictext db upgrade" in error["message"]


def test_an_unreachable_database_is_one_line_and_exit_2() -> None:
    url = f"postgresql+psycopg://someone:s3cret@127.0.0.1:{free_port()}/clinictext"
    result = run_cli(url, "org", "create", "--name", "Clinic")
    assert result.returncode == 2
    assert_one_line_pointing_at_the_fix(result.stderr)
    assert "s3cret" not in result.stderr  # the password is never printed
    assert "Cannot use the database" in result.stderr


def test_a_sqlite_file_in_a_missing_folder_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_cli(f"sqlite:///{tmp_path}/no/such/folder/x.db", "db", "upgrade")
    assert result.returncode == 2
    assert_one_line_pointing_at_the_fix(result.stderr)


# --- help ------------------------------------------------------------------------------------


def every_command_path() -> Iterator[list[str]]:
    def walk(command: Any, path: list[str]) -> Iterator[list[str]]:
        yield path
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    yield from walk(typer.main.get_command(app), [])


@pytest.mark.parametrize(
    "path", list(every_command_path()), ids=lambda p: " ".join(p) or "clinictext"
)
def test_help_shows_flags_without_a_value(path: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output
    assert "--help" in result.output


def test_installed_script_help_shows_json_as_a_flag() -> None:
    result = run_cli("sqlite://", "can-text", "--help")
    assert result.returncode == 0
    json_line = next(line for line in result.stdout.splitlines() if "--json" in line)
    assert "<bool>" not in json_line
    assert "Print one JSON object." in json_line
