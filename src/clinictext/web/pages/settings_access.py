"""The settings page's people and access: the users who sign in, and the API keys that let
other systems act for the organization."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from clinictext.api.deps import SessionDep
from clinictext.api.schemas import BROKEN_TEXT, has_broken_text
from clinictext.services import orgs, users
from clinictext.services.clock import utcnow
from clinictext.services.errors import Invalid, ServiceError
from clinictext.services.web_sessions import SignedIn
from clinictext.store.models import User
from clinictext.web.access import AdminPage
from clinictext.web.pages.settings import (
    ROLES,
    FormState,
    FormText,
    RowId,
    answer,
    broken,
    refused,
    service_refused,
)

router = APIRouter(include_in_schema=False)

# --- users -------------------------------------------------------------------------------


@router.post("/settings/users", response_class=HTMLResponse)
def add_user(
    request: Request,
    user: AdminPage,
    session: SessionDep,
    email: FormText = "",
    role: FormText = "",
    password: FormText = "",
) -> HTMLResponse:
    values = {"email": email, "role": role}  # a password is never sent back
    errors = broken({"email": email, "password": password})
    if errors:
        return refused(request, session, user, "users", errors, values, form="add-user")
    try:
        created = users.create_user(session, user.org_id, email[:300], role, password, user.actor)
    except ServiceError as err:
        return service_refused(
            request, session, user, "users", err, values, form="add-user", default_field="email"
        )
    notice = (
        f"Added {created.email} as {ROLES[created.role].lower()}. Give them the initial "
        "password in person or by phone, not by email."
    )
    return answer(request, session, user, "users", "add-user", FormState(notice=notice))


def _user_action(
    request: Request,
    session: Session,
    user: SignedIn,
    user_id: int,
    action: Callable[[User], None],
    done: str,
) -> HTMLResponse:
    """Apply ``action`` to one user of the organization; ``done`` says what was done."""
    target = users.get_user(session, user.org_id, user_id)
    form = f"user-{user_id}"
    try:
        action(target)
    except ServiceError as err:
        return service_refused(request, session, user, "users", err, {}, form=form)
    notice = done.format(email=target.email)
    return answer(request, session, user, "users", form, FormState(notice=notice))


@router.post("/settings/users/{user_id}/disable", response_class=HTMLResponse)
def disable_user(
    request: Request, user: AdminPage, session: SessionDep, user_id: RowId
) -> HTMLResponse:
    def act(target: User) -> None:
        users.disable_user(session, target, user.actor, utcnow())

    done = "Disabled {email}: they are signed out and cannot sign in until enabled again."
    return _user_action(request, session, user, user_id, act, done)


@router.post("/settings/users/{user_id}/enable", response_class=HTMLResponse)
def enable_user(
    request: Request, user: AdminPage, session: SessionDep, user_id: RowId
) -> HTMLResponse:
    def act(target: User) -> None:
        users.enable_user(session, target, user.actor)

    return _user_action(request, session, user, user_id, act, "Enabled {email}: they can sign in.")


@router.post("/settings/users/{user_id}/role", response_class=HTMLResponse)
def change_role(
    request: Request,
    user: AdminPage,
    session: SessionDep,
    user_id: RowId,
    role: FormText = "",
) -> HTMLResponse:
    def act(target: User) -> None:
        users.set_role(session, target, role, user.actor)

    label = ROLES.get(role, role).lower()
    return _user_action(request, session, user, user_id, act, "{email} is now " + label + ".")


@router.post("/settings/users/{user_id}/password", response_class=HTMLResponse)
def reset_password(
    request: Request,
    user: AdminPage,
    session: SessionDep,
    user_id: RowId,
    password: FormText = "",
) -> HTMLResponse:
    def act(target: User) -> None:
        if has_broken_text(password):
            raise Invalid(f"This {BROKEN_TEXT}.", code="invalid_password", field="password")
        users.reset_password(session, target, password, user.actor, utcnow())

    done = "New password set for {email}; they are signed out everywhere and sign in with it."
    return _user_action(request, session, user, user_id, act, done)


# --- API keys ----------------------------------------------------------------------------


@router.post("/settings/api-keys", response_class=HTMLResponse)
def create_api_key(
    request: Request, user: AdminPage, session: SessionDep, name: FormText = ""
) -> HTMLResponse:
    values = {"name": name}
    try:
        new = orgs.create_api_key(session, user.org_id, name=name, actor=user.actor)
    except ServiceError as err:
        return service_refused(
            request, session, user, "api-keys", err, values, default_field="name"
        )
    state = FormState(
        notice=f"Created the key “{name.strip()}”. Copy it now: it is shown only this once.",
        secret=new.key,
    )
    return answer(request, session, user, "api-keys", "api-keys", state)


@router.post("/settings/api-keys/{key_id}/revoke", response_class=HTMLResponse)
def revoke_api_key(
    request: Request, user: AdminPage, session: SessionDep, key_id: RowId
) -> HTMLResponse:
    orgs.revoke_api_key(session, user.org_id, key_id, user.actor, utcnow())
    notice = "Revoked the key: anything still using it is refused from now on."
    return answer(request, session, user, "api-keys", "api-keys", FormState(notice=notice))
