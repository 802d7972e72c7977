"""Who is signed in to the web app, what they may do, and CSRF protection.

Each request reads its session in a short read transaction of its own (as the API reads its
key), so that ending a session, disabling a user or resetting a password takes effect on
the very next request, on every replica. Activity is written at most once a minute.

CSRF: every state-changing request carries the session's token, in the form field
``csrf_token`` or the ``X-CSRF-Token`` header (htmx sends it from the page's ``<body>``).
The sign-in form has no session yet: it uses a double-submit cookie. SameSite=Lax cookies
are a second line, not the only one.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import func, select

from clinictext.domain import staff
from clinictext.services import connector
from clinictext.services.clock import utcnow
from clinictext.services.web_sessions import SignedIn, lookup, touch
from clinictext.store.models import Organization, Patient

SESSION_COOKIE = "clinictext_session"
LOGIN_CSRF_COOKIE = "clinictext_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SignInRequired(Exception):
    """No live session: the browser goes to the sign-in page."""


class Forbidden(Exception):
    """Signed in, but the role does not allow this."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CsrfRefused(Exception):
    """A state-changing request without the session's CSRF token."""


@dataclass(frozen=True)
class Chrome:
    """What every full page shows around its content."""

    org_name: str
    timezone: str
    unread: int
    connector_state: str


def cookie_secure(request: Request) -> bool:
    return str(request.app.state.settings.public_url).startswith("https://")


def idle_timeout(request: Request) -> timedelta:
    return timedelta(minutes=request.app.state.settings.session_idle_minutes)


def current(request: Request) -> SignedIn | None:
    """The live session of this request, or None; activity recorded at most once a minute."""
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        return None
    now = utcnow()
    state = request.app.state
    with state.read_session_factory() as session, session.begin():
        signed_in = lookup(session, token, now, idle_timeout(request))
    if signed_in is not None and now - signed_in.last_seen_at >= timedelta(seconds=60):
        with state.session_factory() as session, session.begin():
            touch(session, signed_in, now)
    if signed_in is not None:
        request.state.signed_in = signed_in
    return signed_in


def require_signed_in(request: Request) -> SignedIn:
    signed_in = current(request)
    if signed_in is None:
        raise SignInRequired()
    return signed_in


async def check_csrf(request: Request) -> None:
    """Refuse (403) a state-changing request whose CSRF token is missing or wrong."""
    if request.method in SAFE_METHODS:
        return
    signed_in: SignedIn | None = getattr(request.state, "signed_in", None)
    if signed_in is None:
        raise SignInRequired()
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and _is_form(request):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), signed_in.csrf_token.encode()):
        raise CsrfRefused()


def _is_form(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind in {"application/x-www-form-urlencoded", "multipart/form-data"}


def _permission(permission: staff.Permission, message: str):  # type: ignore[no-untyped-def]
    def dependency(
        request: Request,
        signed_in: Annotated[SignedIn, Depends(require_signed_in)],
        _csrf: Annotated[None, Depends(check_csrf)],
    ) -> SignedIn:
        if not signed_in.allows(permission):
            raise Forbidden(message)
        return signed_in

    return dependency


def page_chrome(request: Request, signed_in: SignedIn) -> Chrome:
    """Load what every full page shows (organization, unread count, connector state)."""
    now = utcnow()
    with request.app.state.read_session_factory() as session, session.begin():
        org = session.get(Organization, signed_in.org_id)
        unread = session.scalar(
            select(func.coalesce(func.sum(Patient.unread_count), 0)).where(
                Patient.organization_id == signed_in.org_id
            )
        )
        state = connector.view(session, signed_in.org_id, now).state
    chrome = Chrome(
        org_name=org.name if org else "",
        timezone=org.timezone if org else "UTC",
        unread=int(unread or 0),
        connector_state=state.value,
    )
    request.state.chrome = chrome
    return chrome


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)


_staff = _permission(staff.Permission.TEXT, "Your account cannot use this page.")
_admin = _permission(
    staff.Permission.ADMINISTER,
    "Only an administrator can open the settings. Ask your clinic's administrator.",
)


def _staff_page(request: Request, signed_in: Annotated[SignedIn, Depends(_staff)]) -> SignedIn:
    page_chrome(request, signed_in)
    return signed_in


def _admin_page(request: Request, signed_in: Annotated[SignedIn, Depends(_admin)]) -> SignedIn:
    page_chrome(request, signed_in)
    return signed_in


# Route dependencies. Staff: texting, leads, consent, commlogs; Admin: settings, numbers,
# users, API keys. Every one checks CSRF on writes; the *Page forms also load the chrome
# (organization, unread count, connector banner) that a whole page shows.
Staff = Annotated[SignedIn, Depends(_staff)]
Admin = Annotated[SignedIn, Depends(_admin)]
StaffPage = Annotated[SignedIn, Depends(_staff_page)]
AdminPage = Annotated[SignedIn, Depends(_admin_page)]
