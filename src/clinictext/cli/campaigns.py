"""Campaign commands: ``campaign create`` (prints the preview), ``campaign start``,
``pause``, ``resume``, ``cancel``, ``campaign show`` (status and counts), ``campaign list``
and ``campaign report`` (who got it and why the others did not; ``--csv`` writes the file).

An audience CSV (``--audience-csv``) names patients by patient_id, external_id or phone;
lines that match no patient are listed with their line number before the preview. A
service error exits 2; an action the campaign's status refuses (start twice, resume a
running one, anything after cancel) is a "no" answer and exits 1 with the reason.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
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
from clinictext.domain import campaigns as rules
from clinictext.domain.checklist import Channel
from clinictext.domain.leads import LeadStage
from clinictext.services import campaigns
from clinictext.services.clock import utcnow
from clinictext.services.errors import Conflict, Invalid, ServiceError
from clinictext.store.db import transaction
from clinictext.store.models import Campaign

campaign_app = typer.Typer(help="Campaigns: one text to many patients.", no_args_is_help=True)

IdArg = Annotated[int, typer.Argument(help="The campaign's id.", min=1)]


def register(app: typer.Typer) -> None:
    """Add the commands to ``app``."""
    app.add_typer(campaign_app, name="campaign")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _print_campaign(d: dict[str, Any]) -> None:
    when = f", sends from {d['send_at'].isoformat()}" if d.get("send_at") else ""
    console.print(
        f"Campaign {d['id']} '{escape(d['name'])}' is {d['status']} "
        f"({d['channel']} number, {escape(d['audience_description'])}{when})."
    )
    counts, preview = d["counts"], d["preview"]
    table = Table(show_header=True)
    table.add_column("count")
    table.add_column("patients", justify="right")
    for key in rules.COUNT_KEYS:
        table.add_row(key, f"{counts[key]:,}")
    console.print(table)
    if preview.get("skip_reasons"):
        reasons = Table("skip reason", "patients", "what it means")
        for reason, n in preview["skip_reasons"].items():
            reasons.add_row(reason, f"{n:,}", rules.SKIP_SUMMARY.get(reason, ""))
        console.print(reasons)


def _csv_ids(org: int, path: Path, as_json: bool) -> tuple[list[int], list[dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        fail(
            Invalid(
                f"Cannot read {path} as a UTF-8 text file ({type(err).__name__}): export it "
                "as CSV.",
                code="invalid_audience_csv",
            ),
            as_json,
        )
    with transaction(session_maker()) as session:
        found = campaigns.resolve_csv(session, org, text)
    unmatched = [u.__dict__ for u in found.unmatched]
    if unmatched and not as_json:
        table = Table("line", found.column, "why it matches no patient", title=str(path))
        for u in found.unmatched:
            table.add_row(str(u.line), escape(u.value), escape(u.reason))
        err_console.print(table)
    return found.patient_ids, unmatched


@campaign_app.command("create")
def campaign_create(
    org: OrgOpt,
    name: Annotated[str, typer.Option("--name", help="A name staff recognize.")],
    template: Annotated[int, typer.Option("--template", help="The template's id.", min=1)],
    everyone: Annotated[bool, typer.Option("--all", help="Every patient.")] = False,
    lead_stage: Annotated[
        list[LeadStage] | None,
        typer.Option("--lead-stage", help="Patients whose lead is in this stage (repeatable)."),
    ] = None,
    patient: Annotated[
        list[int] | None, typer.Option("--patient", help="A patient's id (repeatable).", min=1)
    ] = None,
    audience_csv: Annotated[
        Path | None,
        typer.Option(
            "--audience-csv", help="A CSV with a patient_id, external_id or phone column."
        ),
    ] = None,
    language: Annotated[
        str | None, typer.Option("--language", help="Patients of this language, e.g. es.")
    ] = None,
    send_at: Annotated[
        str | None,
        typer.Option("--send-at", help="ISO 8601 with its offset, e.g. 2026-12-01T09:00-05:00."),
    ] = None,
    channel: Annotated[Channel, typer.Option(help="lead (default) or clinic")] = Channel.LEAD,
    as_json: JsonOpt = False,
) -> None:
    """Create a draft campaign and print its preview: who would get it, who not and why."""
    audience: dict[str, Any] = {}
    if everyone:
        audience["all"] = True
    if lead_stage:
        audience["lead_stages"] = [s.value for s in lead_stage]
    if language is not None:
        audience["language"] = language
    unmatched: list[dict[str, Any]] = []
    ids: list[int] | None = list(dict.fromkeys(patient)) if patient else None
    if audience_csv is not None:
        from_file, unmatched = _csv_ids(org, audience_csv, as_json)
        if ids is not None:
            chosen = set(ids)
            from_file = [i for i in from_file if i in chosen]
        ids = from_file
        if not ids:
            fail(
                Invalid(
                    f"No line of {audience_csv} matches a patient"
                    + (" among the --patient ids" if patient else "")
                    + ": check the file's column and values.",
                    code="no_recipients",
                ),
                as_json,
            )
    if ids is not None:
        audience["patient_ids"] = ids
    try:
        with transaction(session_maker()) as session:
            campaign = campaigns.create(
                session,
                org,
                name=name,
                template_id=template,
                audience=audience,
                send_at=send_at,
                channel=channel,
                actor=CLI_ACTOR,
            )
            data = campaigns.described(session, campaign, utcnow())
    except ServiceError as err:
        fail(err, as_json)
    if as_json:
        emit({**_jsonable(data), "unmatched": unmatched})
        return
    _print_campaign(data)
    console.print(f"Start it with: clinictext campaign start {data['id']} --org {org}")


def _act(action: rules.Action, campaign_id: int, org: int, as_json: bool) -> None:
    try:
        with transaction(session_maker()) as session:
            campaign = campaigns.act(session, org, campaign_id, action, actor=CLI_ACTOR)
            data = campaigns.described(session, campaign, utcnow())
    except Conflict as err:
        if as_json:
            emit({"error": {"code": err.code, "message": err.message}})
        else:
            err_console.print(f"[red]Not {action.value}ed:[/red] {escape(err.message)}")
        raise typer.Exit(1) from None
    except ServiceError as err:
        fail(err, as_json)
    if as_json:
        emit(_jsonable(data))
    else:
        _print_campaign(data)


@campaign_app.command("start")
def campaign_start(campaign_id: IdArg, org: OrgOpt, as_json: JsonOpt = False) -> None:
    """Run the checklist again and write every text (exit 1 when it cannot start)."""
    _act(rules.Action.START, campaign_id, org, as_json)


@campaign_app.command("pause")
def campaign_pause(campaign_id: IdArg, org: OrgOpt, as_json: JsonOpt = False) -> None:
    """Hold every text not yet handed to the provider."""
    _act(rules.Action.PAUSE, campaign_id, org, as_json)


@campaign_app.command("resume")
def campaign_resume(campaign_id: IdArg, org: OrgOpt, as_json: JsonOpt = False) -> None:
    """Send the held texts again, each inside the send window."""
    _act(rules.Action.RESUME, campaign_id, org, as_json)


@campaign_app.command("cancel")
def campaign_cancel(campaign_id: IdArg, org: OrgOpt, as_json: JsonOpt = False) -> None:
    """Cancel every text not yet handed to the provider."""
    _act(rules.Action.CANCEL, campaign_id, org, as_json)


@campaign_app.command("show")
def campaign_show(
    campaign_id: IdArg,
    org: Annotated[
        int | None,
        typer.Option("--org", help="The organization's id (default: the campaign's).", min=1),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The campaign's status and progress counts."""
    try:
        with transaction(session_maker()) as session:
            if org is None:
                row = session.get(Campaign, campaign_id)
                org = row.organization_id if row is not None else 0
            data = campaigns.described(session, campaigns.get(session, org, campaign_id), utcnow())
    except ServiceError as err:
        fail(err, as_json)
    if as_json:
        emit(_jsonable(data))
    else:
        _print_campaign(data)


@campaign_app.command("list")
def campaign_list(org: OrgOpt, as_json: JsonOpt = False) -> None:
    """The organization's campaigns, newest first (the latest 200)."""
    with transaction(session_maker()) as session:
        page = campaigns.list_campaigns(session, org, limit=200)
        rows = campaigns.described_all(session, page.items, utcnow())
    if as_json:
        emit({"campaigns": _jsonable(rows)})
        return
    table = Table("id", "name", "status", "recipients", "skipped", "delivered", "failed")
    for d in rows:
        c = d["counts"]
        table.add_row(
            str(d["id"]),
            escape(d["name"]),
            d["status"],
            f"{c['recipients']:,}",
            f"{c['skipped']:,}",
            f"{c['delivered']:,}",
            f"{c['failed']:,}",
        )
    console.print(table)


@campaign_app.command("report")
def campaign_report(
    campaign_id: IdArg,
    org: OrgOpt,
    csv_path: Annotated[
        Path | None, typer.Option("--csv", help="Write the whole report to this CSV file.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Who got the text, who did not and why: the per-recipient report."""
    try:
        with transaction(session_maker()) as session:
            if csv_path is not None:
                with csv_path.open("w", encoding="utf-8", newline="") as out:
                    for chunk in campaigns.recipients_csv(session, org, campaign_id):
                        out.write(chunk)
            rows: list[dict[str, Any]] = []
            cursor: str | None = None
            while True:
                page = campaigns.recipients(session, org, campaign_id, limit=200, cursor=cursor)
                rows += page.items
                cursor = page.next_cursor
                if cursor is None or (csv_path is not None and not as_json):
                    break
    except ServiceError as err:
        fail(err, as_json)
    except OSError as err:
        fail(Invalid(f"Cannot write {csv_path}: {err.strerror}.", code="cannot_write"), as_json)
    if as_json:
        emit({"recipients": rows, **({"csv": str(csv_path)} if csv_path else {})})
        return
    if csv_path is not None:
        console.print(f"The report of campaign {campaign_id} is in {csv_path}.")
        return
    table = Table("patient", "name", "status", "message", "why")
    for r in rows:
        table.add_row(
            str(r["patient_id"]),
            escape(r["patient_name"]),
            r["status"],
            str(r["message_id"] or ""),
            escape(r["detail"] or ""),
        )
    console.print(table)
