"""Template commands: ``template create``, ``template list``, ``template show``,
``template delete``. ``show`` prints what a template costs at worst (encoding and parts once
filled in with long names), so an office sees it before thousands of texts go out."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from clinictext.cli import CLI_ACTOR, JsonOpt, OrgOpt, console, emit, err_console, session_maker
from clinictext.services import orgs, templates
from clinictext.services.errors import ServiceError
from clinictext.store.db import transaction

template_app = typer.Typer(
    help="Templates of reminders, confirmations and campaigns.", no_args_is_help=True
)

IdArg = Annotated[int, typer.Argument(help="The template's id.", min=1)]
PurposeOpt = Annotated[
    str, typer.Option("--purpose", help="reminder, confirmation, campaign or general.")
]


def register(app: typer.Typer) -> None:
    app.add_typer(template_app, name="template")


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}


def _fail(err: ServiceError, as_json: bool, body: str | None = None) -> None:
    """Print the error with everything it carries (position, suggestion) and exit 2."""
    if as_json:
        print(json.dumps({"error": {"code": err.code, "message": err.message, **err.extra}}))
        raise typer.Exit(2)
    err_console.print(f"[red]Error:[/red] {escape(err.message)}")
    position = err.extra.get("position")
    if body is not None and isinstance(position, int) and err.extra.get("field") == "body":
        # The line of the body with a caret under the problem, as a compiler shows it.
        start = body.rfind("\n", 0, position) + 1
        end = body.find("\n", position)
        line = body[start : end if end >= 0 else len(body)]
        err_console.print(f"  {escape(line)}", highlight=False)
        err_console.print("  " + " " * (position - start) + "^", highlight=False)
    raise typer.Exit(2)


def _variants(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        language, sep, text = pair.partition("=")
        if not sep or not language.strip():
            raise typer.BadParameter(
                f"'{pair[:40]}' is not LANGUAGE=TEXT: write it as es=\"Hola [FName]...\".",
                param_hint="--variant",
            )
        out[language.strip()] = text
    return out


@template_app.command("create")
def template_create(
    org: OrgOpt,
    name: Annotated[str, typer.Option("--name", help="A name staff recognize.")],
    purpose: PurposeOpt,
    body: Annotated[str, typer.Option("--body", help="The text, with [FName]-style fields.")],
    language: Annotated[str, typer.Option("--language", help="The body's language.")] = "en",
    variant: Annotated[
        list[str] | None,
        typer.Option("--variant", help='The text in another language, as es="Hola ...".'),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Save a template; a misspelled field is refused with its position and the closest one."""
    variants = _variants(variant or [])
    try:
        with transaction(session_maker()) as session:
            orgs.get_org(session, org)
            row = templates.create(
                session,
                org,
                name=name,
                purpose=purpose,
                body=body,
                language=language,
                variants=variants,
                actor=CLI_ACTOR,
            )
            data = templates.described(row)
    except ServiceError as err:
        _fail(err, as_json, body)
    if as_json:
        emit(_jsonable(data))
    else:
        console.print(
            f"Created template {data['id']}: {escape(data['name'])} ({data['purpose']}), "
            f"{_parts(data)}."
        )


def _parts(data: dict[str, Any]) -> str:
    count = data["segments_max"]
    return f"{data['encoding']}, at most {count} part{'s' if count != 1 else ''} once filled in"


@template_app.command("list")
def template_list(
    org: OrgOpt,
    purpose: Annotated[
        str | None, typer.Option("--purpose", help="Only templates of this purpose.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the organization's templates with their worst-case parts."""
    try:
        with transaction(session_maker()) as session:
            orgs.get_org(session, org)
            rows = templates.list_templates(session, org, purpose)
            shown = [_jsonable(d) for d in templates.described_all(session, org, rows)]
    except ServiceError as err:
        _fail(err, as_json)
    if as_json:
        emit({"templates": shown})
        return
    table = Table("id", "name", "purpose", "language", "fields", "encoding", "parts at most")
    for row in shown:
        languages = ", ".join([row["language"], *row["variants"]])
        table.add_row(
            str(row["id"]),
            escape(row["name"]),
            row["purpose"],
            languages,
            escape(" ".join(f"[{f}]" for f in row["fields"])),
            row["encoding"],
            str(row["segments_max_any_language"]),
        )
    console.print(table)


@template_app.command("show")
def template_show(template_id: IdArg, org: OrgOpt, as_json: JsonOpt = False) -> None:
    """Show a template: its text, fields, encoding, worst-case parts and the lint's findings."""
    try:
        with transaction(session_maker()) as session:
            orgs.get_org(session, org)
            data = _jsonable(templates.described(templates.get(session, org, template_id)))
    except ServiceError as err:
        _fail(err, as_json)
    if as_json:
        emit(data)
        return
    out = console.print
    out(f"Template {data['id']}: {escape(data['name'])} ({data['purpose']})", highlight=False)
    out(f"Language: {data['language']}", highlight=False)
    out(escape(data["body"]), highlight=False)
    out(f"Fields: {escape(' '.join(f'[{f}]' for f in data['fields'])) or 'none'}")
    out(f"Encoding: {data['encoding']}", highlight=False)
    out(
        f"Worst case: {data['segments_max']} part(s), {data['characters_max']} characters, once "
        "filled in with 20-character names and the longest date",
        highlight=False,
    )
    if data["segments_max_unicode_name"] != data["segments_max"]:
        out(
            f"A patient whose name has a letter outside the texting alphabet (such as Á): "
            f"{data['segments_max_unicode_name']} part(s)",
            highlight=False,
        )
    for lang, info in data["variants_info"].items():
        out(f"Variant {lang}: {escape(data['variants'][lang])}", highlight=False)
        out(f"  {info['encoding']}, worst case {info['segments_max']} part(s)", highlight=False)
    out(f"Example: {escape(data['example'])}", highlight=False)
    for finding in data["lint"]:
        out(
            f"{finding['severity']}: {escape(finding['message'])} {escape(finding['suggestion'])}",
            highlight=False,
        )


@template_app.command("delete")
def template_delete(template_id: IdArg, org: OrgOpt, as_json: JsonOpt = False) -> None:
    """Delete a template no enabled rule or unfinished campaign uses."""
    try:
        with transaction(session_maker()) as session:
            orgs.get_org(session, org)
            templates.delete(session, org, template_id, actor=CLI_ACTOR)
    except ServiceError as err:
        _fail(err, as_json)
    if as_json:
        emit({"id": template_id, "deleted": True})
    else:
        console.print(f"Deleted template {template_id}.")
