"""The ``clinictext`` command line (Typer)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from clinictext.config import get_settings
from clinictext.domain.checklist import Channel, SendKind
from clinictext.services import demo, importing, orgs, sending
from clinictext.services.clock import utcnow
from clinictext.services.eligibility import evaluate_patient
from clinictext.services.errors import ServiceError
from clinictext.store.db import make_engine, session_factory, transaction, upgrade

app = typer.Typer(help="clinictext: two-way patient texting for clinics.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
org_app = typer.Typer(help="Organizations.", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")
app.add_typer(key_app, name="apikey")

console = Console()
err_console = Console(stderr=True)
CLI_ACTOR = "cli"

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
OrgOpt = Annotated[int, typer.Option("--org", help="The organization's id.", min=1)]


def _factory():  # type: ignore[no-untyped-def]
    return session_factory(make_engine(get_settings().database_url))


def _fail(err: ServiceError, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"error": {"code": err.code, "message": err.message}}))
    else:
        err_console.print(f"[red]Error:[/red] {err.message}")
    raise typer.Exit(2)


def _emit(data: dict[str, Any]) -> None:
    print(json.dumps(data, default=str))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to the current schema."""
    upgrade(get_settings().database_url)
    console.print("Database is up to date.")


@org_app.command("create")
def org_create(
    name: Annotated[str, typer.Option("--name", help="The organization's name.")],
    timezone: Annotated[str, typer.Option(help="IANA time zone.")] = "America/New_York",
    as_json: JsonOpt = False,
) -> None:
    """Create an organization (texting starts disabled)."""
    try:
        with transaction(_factory()) as session:
            org = orgs.create_org(session, name, timezone=timezone, actor=CLI_ACTOR)
            data = {"id": org.id, "name": org.name}
    except ServiceError as err:
        _fail(err, as_json)
    if as_json:
        _emit(data)
    else:
        console.print(f"Created organization {data['id']}: {data['name']}")


@key_app.command("create")
def apikey_create(
    org: OrgOpt,
    name: Annotated[str, typer.Option(help="A label for the key.")] = "default",
    as_json: JsonOpt = False,
) -> None:
    """Create an API key for an organization; the key is shown once."""
    try:
        with transaction(_factory()) as session:
            new = orgs.create_api_key(session, org, name=name, actor=CLI_ACTOR)
    except ServiceError as err:
        _fail(err, as_json)
    if as_json:
        _emit({"id": new.id, "key": new.key})
    else:
        console.print(f"API key {new.id} (shown once, store it now): [bold]{new.key}[/bold]")


@app.command("can-text")
def can_text(
    patient_id: Annotated[int, typer.Argument(min=1)],
    org: OrgOpt,
    channel: Annotated[Channel, typer.Option(help="lead or clinic")] = Channel.CLINIC,
    kind: Annotated[SendKind, typer.Option(help="manual, automated or campaign")] = SendKind.MANUAL,
    as_json: JsonOpt = False,
) -> None:
    """Whether a patient can be texted, check by check (exit 0 when textable, 1 when not)."""
    try:
        with transaction(_factory()) as session:
            verdict = evaluate_patient(session, org, patient_id, channel, kind, now=utcnow())
            name = f"{verdict.patient.first_name} {verdict.patient.last_name}"
    except ServiceError as err:
        _fail(err, as_json)
    if as_json:
        _emit(
            {
                "can_text": verdict.ok,
                "channel": channel.value,
                "kind": kind.value,
                "checks": [c.__dict__ for c in verdict.checks],
            }
        )
    else:
        table = Table(title=f"Can {name} be texted on the {channel.value} channel ({kind.value})?")
        table.add_column("check")
        table.add_column("ok")
        table.add_column("detail")
        table.add_column("what to do")
        for c in verdict.checks:
            table.add_row(
                c.id, "[green]yes[/green]" if c.ok else "[red]no[/red]", c.detail, c.fix or ""
            )
        console.print(table)
        console.print(
            "[green]Yes, this patient can be texted.[/green]"
            if verdict.ok
            else "[red]No, this patient cannot be texted.[/red]"
        )
    raise typer.Exit(0 if verdict.ok else 1)


@app.command("send")
def send(
    patient_id: Annotated[int, typer.Argument(min=1)],
    org: OrgOpt,
    body: Annotated[str, typer.Option("--body", help="The text to send.")],
    channel: Annotated[Channel, typer.Option(help="lead or clinic")] = Channel.CLINIC,
    as_json: JsonOpt = False,
) -> None:
    """Send a staff text (runs the checklist; exit 1 and the failing checks when refused)."""
    try:
        with transaction(_factory()) as session:
            message = sending.send(session, org, patient_id, channel, body, actor=CLI_ACTOR)
            data = {
                "id": message.id,
                "status": message.status,
                "segments": message.segments,
                "encoding": message.encoding,
            }
    except ServiceError as err:
        if err.code == "cannot_text":
            checks = err.extra["checks"]
            if as_json:
                print(
                    json.dumps(
                        {
                            "error": {
                                "code": err.code,
                                "message": err.message,
                                "checks": [c.__dict__ for c in checks],
                            }
                        }
                    )
                )
            else:
                err_console.print("[red]Not sent.[/red] " + err.message)
                for c in checks:
                    if not c.ok:
                        err_console.print(f"  {c.id}: {c.fix}")
            raise typer.Exit(1) from None
        _fail(err, as_json)
    if as_json:
        _emit(data)
    else:
        console.print(f"Message {data['id']} is {data['status']} ({data['segments']} segment(s)).")


@app.command("import")
def import_csv(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    org: OrgOpt,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the good rows even if some are bad.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import patients from a CSV file: all rows, or none if any row is bad."""
    try:
        rows = importing.read_csv(path.read_bytes())
        with _factory()() as session, session.begin():
            orgs.get_org(session, org)
            with Progress(
                TextColumn("Importing patients"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err_console,
                disable=as_json,
            ) as bar:
                task = bar.add_task("import", total=len(rows))
                report = importing.import_patients(
                    session,
                    org,
                    rows,
                    actor=CLI_ACTOR,
                    skip_invalid=skip_invalid,
                    progress=lambda n: bar.advance(task, n),
                )
            if not report.committed:
                session.rollback()
    except ServiceError as err:
        _fail(err, as_json)
    summary = {
        "rows": report.rows,
        "created": report.created if report.committed else 0,
        "updated": report.updated if report.committed else 0,
        "rejected": [{"line": r.line, "reason": r.reason} for r in report.rejected],
        "imported": report.committed,
    }
    if as_json:
        _emit(summary)
    else:
        if report.rejected:
            table = Table(title="Rejected rows")
            table.add_column("line", justify="right")
            table.add_column("reason")
            for r in report.rejected:
                table.add_row(str(r.line), r.reason)
            console.print(table)
        if report.committed:
            console.print(
                f"Imported: {report.created} created, {report.updated} updated, "
                f"{len(report.rejected)} rejected."
            )
        else:
            console.print(
                f"[red]Nothing imported:[/red] {len(report.rejected)} of {report.rows} "
                "rows are bad. Fix them, or use --skip-invalid to import the rest."
            )
    raise typer.Exit(0 if report.committed else 1)


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo_data: Annotated[bool, typer.Option("--demo", help="Seed the demo clinic.")] = False,
) -> None:
    """Apply migrations and run the API server."""
    import uvicorn

    from clinictext.api.app import create_app

    settings = get_settings()
    upgrade(settings.database_url)
    if demo_data:
        with transaction(_factory()) as session:
            seed = demo.seed(session)
        console.print(
            f"Demo clinic ready: organization {seed.org_id}, API key [bold]{seed.api_key}[/bold]; "
            f"{demo.SETUP_ORG}: organization {seed.setup_org_id}, key {seed.setup_api_key}."
        )
        for name, pid in sorted(seed.patients.items(), key=lambda kv: kv[1]):
            console.print(f"  patient {pid}: {name}")
    uvicorn.run(create_app(settings), host=host, port=port, log_level=settings.log_level.lower())


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
