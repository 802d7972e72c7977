"""Staff user commands: ``user create``, ``user list``, ``user disable``, ``user enable``,
``user reset-password``. Passwords are read from standard input (``--password-stdin``) or
asked for twice without echo; they never appear in a command line or in the output."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from clinictext.cli import CLI_ACTOR, JsonOpt, OrgOpt, console, emit, fail, session_maker
from clinictext.services import orgs, users
from clinictext.services.clock import utcnow
from clinictext.services.errors import ServiceError
from clinictext.store.db import transaction
from clinictext.store.models import User

user_app = typer.Typer(help="Staff users of the web app.", no_args_is_help=True)

EmailOpt = Annotated[str, typer.Option("--email", help="The user's email address.")]
StdinOpt = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from standard input."),
]


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True))


def _shown(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "disabled": user.disabled_at is not None,
    }


@user_app.command("create")
def user_create(
    org: OrgOpt,
    email: EmailOpt,
    role: Annotated[str, typer.Option("--role", help="admin or staff.")] = "staff",
    password_stdin: StdinOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a staff user who signs in to the web app with email and password."""
    password = _password(password_stdin)
    try:
        with transaction(session_maker()) as session:
            orgs.get_org(session, org)
            user = users.create_user(session, org, email, role, password, CLI_ACTOR)
            data = {"id": user.id, "email": user.email, "role": user.role}
    except ServiceError as err:
        fail(err, as_json)
    if as_json:
        emit(data)
    else:
        console.print(f"Created {data['role']} user {data['id']}: {data['email']}")


@user_app.command("list")
def user_list(org: OrgOpt, as_json: JsonOpt = False) -> None:
    """List the organization's users."""
    try:
        with transaction(session_maker()) as session:
            orgs.get_org(session, org)
            rows = [_shown(u) for u in users.list_users(session, org)]
    except ServiceError as err:
        fail(err, as_json)
    if as_json:
        emit({"users": rows})
        return
    table = Table("id", "email", "role", "state")
    for row in rows:
        table.add_row(
            str(row["id"]), row["email"], row["role"], "disabled" if row["disabled"] else "active"
        )
    console.print(table)


@user_app.command("disable")
def user_disable(org: OrgOpt, email: EmailOpt, as_json: JsonOpt = False) -> None:
    """Disable a user; their sign-ins end at once."""
    try:
        with transaction(session_maker()) as session:
            user = users.find_by_email(session, org, email)
            data = _shown(users.disable_user(session, user, CLI_ACTOR, utcnow()))
    except ServiceError as err:
        fail(err, as_json)
    if as_json:
        emit(data)
    else:
        console.print(f"Disabled {data['email']}.")


@user_app.command("enable")
def user_enable(org: OrgOpt, email: EmailOpt, as_json: JsonOpt = False) -> None:
    """Enable a disabled user again."""
    try:
        with transaction(session_maker()) as session:
            user = users.find_by_email(session, org, email)
            data = _shown(users.enable_user(session, user, CLI_ACTOR))
    except ServiceError as err:
        fail(err, as_json)
    if as_json:
        emit(data)
    else:
        console.print(f"Enabled {data['email']}.")


@user_app.command("reset-password")
def user_reset_password(
    org: OrgOpt, email: EmailOpt, password_stdin: StdinOpt = False, as_json: JsonOpt = False
) -> None:
    """Set a new password; the user's sign-ins end and failed-attempt delays are cleared."""
    password = _password(password_stdin)
    try:
        with transaction(session_maker()) as session:
            user = users.find_by_email(session, org, email)
            data = _shown(users.reset_password(session, user, password, CLI_ACTOR, utcnow()))
    except ServiceError as err:
        fail(err, as_json)
    if as_json:
        emit(data)
    else:
        console.print(f"New password set for {data['email']}; their sign-ins have ended.")
