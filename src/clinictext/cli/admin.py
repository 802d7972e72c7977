"""Administration commands: short commands that do one thing and exit.

``db upgrade``, ``org create``, ``apikey create``, ``can-text``, ``send``, ``cancel``,
``import`` and ``connector status/acknowledge/refresh``. Each loads, calls one service and
prints the answer (one JSON object with ``--json``); a service error is exit 2, a "no"
answer (cannot text, not canceled, nothing imported) exit 1.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from clinictext.cli import (
    CLI_ACTOR,
    JsonOpt,
    OrgOpt,
    console,
    emit,
    err_console,
    fail,
    session_maker,
)
from clinictext.config import get_settings
from clinictext.domain.checklist import Channel, SendKind
from clinictext.services import appointment_import, cancel, importing, orgs, sending
from clinictext.services.clock import utcnow
from clinictext.services.eligibility import evaluate_patient
from clinictext.services.errors import ServiceError
from clinictext.store.db import transaction, upgrade

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
org_app = typer.Typer(help="Organizations.", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
connector_app = typer.Typer(help="The connector to the SMS provider.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the administration commands to ``app``."""
    app.add_typer(db_app, name="db")
    app.add_typer(org_app, name="org")
    app.add_typer(key_app, name="apikey")
    app.add_typer(connector_app, name="connector")
    app.command("can-text")(can_text)
    app.command("send")(send)
    app.command("cancel")(cancel_text)
    app.command("import")(import_csv)


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
        with transaction(session_maker()) as session:
            org = orgs.create_org(session, name, timezone=timezone, actor=CLI_ACTOR)
            data = {"id": org.id, "name": org.name}
    except ServiceError as err:
        fail(err, as_json)
    if as_json:
        emit(data)
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
        with transaction(session_maker()) as session:
            new = orgs.create_api_key(session, org, name=name, actor=CLI_ACTOR)
    except ServiceError as err:
        fail(err, as_json)
    if as_json:
        emit({"id": new.id, "key": new.key})
    else:
        console.print(f"API key {new.id} (shown once, store it now): [bold]{new.key}[/bold]")


def can_text(
    patient_id: Annotated[int, typer.Argument(min=1)],
    org: OrgOpt,
    channel: Annotated[Channel, typer.Option(help="lead or clinic")] = Channel.CLINIC,
    kind: Annotated[SendKind, typer.Option(help="manual, automated or campaign")] = SendKind.MANUAL,
    as_json: JsonOpt = False,
) -> None:
    """Whether a patient can be texted, check by check (exit 0 when textable, 1 when not)."""
    try:
        with transaction(session_maker()) as session:
            verdict = evaluate_patient(session, org, patient_id, channel, kind, now=utcnow())
            name = f"{verdict.patient.first_name} {verdict.patient.last_name}"
    except ServiceError as err:
        fail(err, as_json)
    if as_json:
        emit(
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


def send(
    patient_id: Annotated[int, typer.Argument(min=1)],
    org: OrgOpt,
    body: Annotated[str, typer.Option("--body", help="The text to send.")],
    channel: Annotated[Channel, typer.Option(help="lead or clinic")] = Channel.CLINIC,
    as_json: JsonOpt = False,
) -> None:
    """Send a staff text (runs the checklist; exit 1 and the failing checks when refused)."""
    try:
        with transaction(session_maker()) as session:
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
        fail(err, as_json)
    if as_json:
        emit(data)
    else:
        console.print(f"Message {data['id']} is {data['status']} ({data['segments']} segment(s)).")


def cancel_text(
    message_id: Annotated[int, typer.Argument(min=1, help="The message's id.")],
    org: OrgOpt,
    as_json: JsonOpt = False,
) -> None:
    """Cancel a text not yet handed to the provider (scheduled or queued).

    Exit 0 when canceled, 1 when it can no longer be canceled (the reason is printed)."""
    from clinictext.api.v1.messages import message_out

    try:
        with transaction(session_maker()) as session:
            message = cancel.cancel(session, org, message_id, actor=CLI_ACTOR)
            out = message_out(session, message)  # the same shape as the API's answer
    except cancel.NotCancelable as err:
        if as_json:
            emit({"error": {"code": err.code, "message": err.message}})
        else:
            err_console.print(f"[red]Not canceled:[/red] {err.message}")
        raise typer.Exit(1) from None
    except ServiceError as err:
        fail(err, as_json)
    if as_json:
        emit(out.model_dump(mode="json", by_alias=True))
    else:
        console.print(f"Message {out.id} is canceled; it will not be sent.")


def import_csv(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    org: OrgOpt,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the good rows even if some are bad.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import patients, or appointments, from a CSV file: all rows, or none if any is bad.

    Patients: header row, columns in any order: first_name and last_name (required; every
    row needs a first name), phone, timezone, external_id (a row with a known external_id
    updates that patient; each may appear once per file), language, consent (informational
    or marketing), consent_source (how the patient agreed: web_form, paper_form, verbal,
    import or api; import when empty), consent_evidence, lead_stage (open, in_progress,
    closed_won or closed_lost), lead_substatus, lead_reason.

    Appointments: a file whose header has a starts_at column. The patient by
    patient_external_id, patient_id or phone; starts_at (ISO 8601 with its offset, e.g.
    2026-12-01T15:30:00-05:00, or "YYYY-MM-DD HH:MM", read in the location's time zone,
    else the organization's); provider; location (its name or id); external_id (a row
    with a known external_id updates that appointment, and a new start moves it; each
    may appear once per file); status (scheduled, confirmed, canceled, completed or
    no_show).
    """
    data = path.read_bytes()
    run: Callable[..., importing.ImportReport] = importing.import_patients
    read: Callable[[bytes], list[importing.CsvRow]] = importing.read_csv
    what = "patients"
    if appointment_import.is_appointment_file(data):
        what, read = "appointments", appointment_import.read_csv
        run = appointment_import.import_appointments
    try:
        rows = read(data)
        with session_maker()() as session, session.begin():
            orgs.get_org(session, org)
            with Progress(
                TextColumn(f"Importing {what}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err_console,
                disable=as_json,
            ) as bar:
                task = bar.add_task("import", total=len(rows))
                report = run(
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
        fail(err, as_json)
    summary = {
        "rows": report.rows,
        "created": report.created if report.committed else 0,
        "updated": report.updated if report.committed else 0,
        "rejected": [{"line": r.line, "reason": r.reason} for r in report.rejected],
        "imported": report.committed,
    }
    if as_json:
        emit(summary)
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


def _print_connector(state: Any, as_json: bool) -> None:
    from clinictext.api.v1.connector import connector_out

    out = connector_out(state)  # the same shape as GET /api/v1/connector
    if as_json:
        emit(out.model_dump(mode="json"))
        return
    colour = {"up": "green", "degraded": "yellow", "down": "red"}[out.state]
    since = f" since {out.since:%Y-%m-%d %H:%M:%S} UTC" if out.since else ""
    console.print(
        f"Connector: [{colour}]{out.state}[/{colour}]{since}; {out.pending} text(s) pending."
    )
    open_errors = [e for e in out.errors if not e.acknowledged]
    if open_errors:
        table = Table(title="Errors to acknowledge")
        table.add_column("id", justify="right")
        table.add_column("last seen (UTC)")
        table.add_column("times", justify="right")
        table.add_column("error")
        for e in open_errors:
            table.add_row(
                str(e.id), f"{e.last_at:%Y-%m-%d %H:%M:%S}", str(e.occurrences), e.message
            )
        console.print(table)


@connector_app.command("status")
def connector_status(org: OrgOpt, as_json: JsonOpt = False) -> None:
    """The connector's state, pending texts and errors."""
    from clinictext.services import connector

    try:
        with transaction(session_maker()) as session:
            orgs.get_org(session, org)
            state = connector.status(session, org, utcnow())
    except ServiceError as err:
        fail(err, as_json)
    _print_connector(state, as_json)


@connector_app.command("acknowledge")
def connector_acknowledge(org: OrgOpt, as_json: JsonOpt = False) -> None:
    """Acknowledge every open connector error."""
    from clinictext.services import connector

    try:
        with transaction(session_maker()) as session:
            orgs.get_org(session, org)
            count = connector.acknowledge(session, org, CLI_ACTOR, utcnow())
    except ServiceError as err:
        fail(err, as_json)
    if as_json:
        emit({"acknowledged": count})
    else:
        console.print(f"Acknowledged {count} error(s).")


@connector_app.command("refresh")
def connector_refresh(org: OrgOpt, as_json: JsonOpt = False) -> None:
    """Re-check the provider and re-drive every pending text."""
    from clinictext.dispatch.worker import DispatchConfig
    from clinictext.providers.factory import build_provider
    from clinictext.services.refresh import refresh

    settings = get_settings()
    factory = session_maker()
    try:
        with transaction(factory) as session:
            orgs.get_org(session, org)
    except ServiceError as err:
        fail(err, as_json)

    async def run() -> Any:
        provider = build_provider(settings)
        try:
            policy = DispatchConfig.from_settings(settings).retry
            return await refresh(factory, provider, org, CLI_ACTOR, policy)
        finally:
            await provider.close()

    result = asyncio.run(run())
    if as_json:
        emit(
            {
                "state": result.status.view.state.value,
                "redriven": result.redriven,
                "checked": result.checked,
            }
        )
    else:
        _print_connector(result.status, False)
        console.print(f"Re-drove {result.redriven} text(s); refreshed {result.checked} status(es).")
