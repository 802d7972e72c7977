"""The ``clinictext`` command line (Typer)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from clinictext.config import get_settings
from clinictext.domain.checklist import Channel, SendKind
from clinictext.services import cancel, demo, importing, orgs, sending
from clinictext.services.clock import utcnow
from clinictext.services.eligibility import evaluate_patient
from clinictext.services.errors import ServiceError
from clinictext.store.db import make_engine, session_factory, transaction, upgrade

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
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
org_app = typer.Typer(help="Organizations.", no_args_is_help=True)
key_app = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(org_app, name="org")
app.add_typer(key_app, name="apikey")
connector_app = typer.Typer(help="The connector to the SMS provider.", no_args_is_help=True)
app.add_typer(connector_app, name="connector")

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


@app.command("cancel")
def cancel_text(
    message_id: Annotated[int, typer.Argument(min=1, help="The message's id.")],
    org: OrgOpt,
    as_json: JsonOpt = False,
) -> None:
    """Cancel a text not yet handed to the provider (scheduled or queued).

    Exit 0 when canceled, 1 when it can no longer be canceled (the reason is printed)."""
    from clinictext.api.v1.messages import message_out

    try:
        with transaction(_factory()) as session:
            message = cancel.cancel(session, org, message_id, actor=CLI_ACTOR)
            out = message_out(session, message)  # the same shape as the API's answer
    except cancel.NotCancelable as err:
        if as_json:
            _emit({"error": {"code": err.code, "message": err.message}})
        else:
            err_console.print(f"[red]Not canceled:[/red] {err.message}")
        raise typer.Exit(1) from None
    except ServiceError as err:
        _fail(err, as_json)
    if as_json:
        _emit(out.model_dump(mode="json", by_alias=True))
    else:
        console.print(f"Message {out.id} is canceled; it will not be sent.")


@app.command("import")
def import_csv(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    org: OrgOpt,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the good rows even if some are bad.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import patients from a CSV file: all rows, or none if any row is bad.

    Header row, columns in any order: first_name and last_name (required; every row needs
    a first name), phone, timezone, external_id (a row with a known external_id updates
    that patient; each may appear once per file), language, consent (informational or
    marketing), consent_source (how the patient agreed: web_form, paper_form, verbal,
    import or api; import when empty), consent_evidence, lead_stage (open, in_progress,
    closed_won or closed_lost), lead_substatus, lead_reason.
    """
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


def _public_url_for(host: str, port: int) -> None:
    """Default the public URL to the address served, unless it was configured."""
    if "CLINICTEXT_PUBLIC_URL" not in os.environ:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        os.environ["CLINICTEXT_PUBLIC_URL"] = f"http://{shown}:{port}"
        get_settings.cache_clear()


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo_data: Annotated[bool, typer.Option("--demo", help="Seed the demo clinic.")] = False,
    dispatch: Annotated[
        bool, typer.Option("--dispatch/--no-dispatch", help="Run the dispatch worker too.")
    ] = True,
) -> None:
    """Apply migrations and run the API, the webhooks, the dispatcher and (with the
    simulator provider) the carrier simulator, in one process."""
    import uvicorn

    from clinictext.api.app import create_app

    _public_url_for(host, port)
    settings = get_settings()
    if settings.provider == "simulator":
        console.print(
            "[bold black on yellow] SIMULATOR MODE: NO REAL TEXTS ARE SENT. [/] Every text goes "
            f"to the built-in carrier simulator at {settings.public_url.rstrip('/')}/simulator, "
            "never to a phone. To text patients, set CLINICTEXT_PROVIDER=twilio with "
            "CLINICTEXT_TWILIO_ACCOUNT_SID and CLINICTEXT_TWILIO_AUTH_TOKEN."
        )
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
    uvicorn.run(
        create_app(settings, dispatcher=dispatch),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        # On SIGTERM, requests still running after this long are cut off, so a stop (or a
        # restart) takes seconds, well within the dispatch lease.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


GRACEFUL_SHUTDOWN_SECONDS = 5


@app.command("worker")
def worker() -> None:
    """Run the dispatch worker alone (scale-out: several workers share one PostgreSQL)."""
    from clinictext.dispatch.worker import DispatchConfig, Dispatcher
    from clinictext.providers.factory import build_provider

    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(message)s")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        provider = build_provider(settings)
        engine = make_engine(settings.database_url)
        try:
            config = DispatchConfig.from_settings(settings)
            await Dispatcher(session_factory(engine), provider, config).run(stop)
        finally:
            await provider.close()
            engine.dispose()

    asyncio.run(main())


@app.command("simulator")
def simulator(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8025,
    webhook_url: Annotated[
        str | None,
        typer.Option(
            help="Where patient replies are posted (default: the public URL's "
            "/webhooks/twilio/sms)."
        ),
    ] = None,
) -> None:
    """Run the Twilio-compatible carrier simulator alone."""
    import uvicorn

    from clinictext.providers.factory import credentials, simulator_seed
    from clinictext.simulator.app import SimulatorSettings, create_simulator

    settings = get_settings()
    sid, token = credentials(settings.model_copy(update={"provider": "simulator"}))
    inbound = webhook_url or settings.public_url.rstrip("/") + "/webhooks/twilio/sms"
    console.print(
        f"Carrier simulator on http://{host}:{port} (account {sid}); replies go to {inbound}"
    )
    uvicorn.run(
        create_simulator(
            SimulatorSettings(
                account_sid=sid,
                auth_token=token,
                inbound_webhook_url=inbound,
                seed=simulator_seed(settings),
            )
        ),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
    )


def _print_connector(state: Any, as_json: bool) -> None:
    from clinictext.api.v1.connector import connector_out

    out = connector_out(state)  # the same shape as GET /api/v1/connector
    if as_json:
        _emit(out.model_dump(mode="json"))
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
        with transaction(_factory()) as session:
            orgs.get_org(session, org)
            state = connector.status(session, org, utcnow())
    except ServiceError as err:
        _fail(err, as_json)
    _print_connector(state, as_json)


@connector_app.command("acknowledge")
def connector_acknowledge(org: OrgOpt, as_json: JsonOpt = False) -> None:
    """Acknowledge every open connector error."""
    from clinictext.services import connector

    try:
        with transaction(_factory()) as session:
            orgs.get_org(session, org)
            count = connector.acknowledge(session, org, CLI_ACTOR, utcnow())
    except ServiceError as err:
        _fail(err, as_json)
    if as_json:
        _emit({"acknowledged": count})
    else:
        console.print(f"Acknowledged {count} error(s).")


@connector_app.command("refresh")
def connector_refresh(org: OrgOpt, as_json: JsonOpt = False) -> None:
    """Re-check the provider and re-drive every pending text."""
    from clinictext.dispatch.worker import DispatchConfig
    from clinictext.providers.factory import build_provider
    from clinictext.services.refresh import refresh

    settings = get_settings()
    factory = _factory()
    try:
        with transaction(factory) as session:
            orgs.get_org(session, org)
    except ServiceError as err:
        _fail(err, as_json)

    async def run() -> Any:
        provider = build_provider(settings)
        try:
            policy = DispatchConfig.from_settings(settings).retry
            return await refresh(factory, provider, org, CLI_ACTOR, policy)
        finally:
            await provider.close()

    result = asyncio.run(run())
    if as_json:
        _emit(
            {
                "state": result.status.view.state.value,
                "redriven": result.redriven,
                "checked": result.checked,
            }
        )
    else:
        _print_connector(result.status, False)
        console.print(f"Re-drove {result.redriven} text(s); refreshed {result.checked} status(es).")


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
