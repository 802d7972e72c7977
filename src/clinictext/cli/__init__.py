"""The ``clinictext`` command line (Typer): the ``app`` and what every command shares.

The commands live by what they are for: ``admin`` holds the short administration commands
(database, organizations, API keys, can-text, send, cancel, import, the connector) and
``runners`` the long-running processes (serve, worker, simulator). This module creates the
``app`` they are registered on, turns a missing, unreachable or unmigrated database into
one line and exit 2, and holds the helpers they share: the consoles, the session factory,
the ``--json``/``--org`` options, JSON printing and the error exit.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from clinictext.config import get_settings
from clinictext.services.errors import ServiceError
from clinictext.store.db import make_engine, session_factory

# SQLSTATEs of a PostgreSQL schema that lacks our tables or columns (not migrated).
_UNDEFINED_TABLE_OR_COLUMN = ("42P01", "42703")


def _database_url_shown() -> str:
    url = get_settings().database_url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unreadable URL)"


def database_problem(err: DBAPIError) -> str:
    """One line saying what is wrong with the configured database and what to do."""
    url = _database_url_shown()
    detail = str(err.orig).strip().splitlines()[0] if str(err.orig).strip() else type(err).__name__
    missing = getattr(err.orig, "sqlstate", None) in _UNDEFINED_TABLE_OR_COLUMN or any(
        phrase in detail.lower() for phrase in ("no such table", "no such column")
    )
    if missing:
        return (
            f"The database {url} has no clinictext tables, or an older schema ({detail}): "
            "run 'clinictext db upgrade', or set CLINICTEXT_DATABASE_URL to the database "
            "you meant."
        )
    return (
        f"Cannot use the database {url} ({detail[:200]}): check that the server is running "
        "(or that the SQLite file's folder exists), or set CLINICTEXT_DATABASE_URL to the "
        "right one; a new database needs 'clinictext db upgrade'."
    )


class ClinicText(typer.Typer):
    """The command line: a database that is missing, unreachable or not migrated is one
    line and exit 2 (an error), never a traceback or the exit 1 of a "no" answer."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except DBAPIError as err:
            line = database_problem(err)
            if "--json" in sys.argv[1:]:
                print(json.dumps({"error": {"code": "database_unavailable", "message": line}}))
            else:
                print(f"Error: {line}", file=sys.stderr)
            sys.exit(2)


app = ClinicText(help="clinictext: two-way patient texting for clinics.", no_args_is_help=True)

console = Console()
err_console = Console(stderr=True)
CLI_ACTOR = "cli"

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
OrgOpt = Annotated[int, typer.Option("--org", help="The organization's id.", min=1)]


def session_maker() -> sessionmaker[Session]:
    """Sessions on the configured database."""
    return session_factory(make_engine(get_settings().database_url))


def fail(err: ServiceError, as_json: bool) -> None:
    """Print a service error (as JSON with ``--json``) and exit 2."""
    if as_json:
        print(json.dumps({"error": {"code": err.code, "message": err.message}}))
    else:
        err_console.print(f"[red]Error:[/red] {err.message}")
    raise typer.Exit(2)


def emit(data: dict[str, Any]) -> None:
    """Print ``data`` as the one JSON object of ``--json``."""
    print(json.dumps(data, default=str))


# The command modules import the helpers above, so they are imported once those exist.
from clinictext.cli import admin, appointments, campaigns, runners, templates, users  # noqa: E402

admin.register(app)
users.register(app)
templates.register(app)
appointments.register(app)
campaigns.register(app)
runners.register(app)


def main() -> None:  # pragma: no cover - console entry
    app()
