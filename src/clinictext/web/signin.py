"""Sign in and sign out: ``/login`` (form: Email, Password, Sign in) and ``POST /logout``."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from clinictext.services import users, web_sessions
from clinictext.services.clock import utcnow
from clinictext.services.web_sessions import SignedIn
from clinictext.store.models import User
from clinictext.web.access import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    CsrfRefused,
    check_csrf,
    cookie_secure,
    current,
    new_login_csrf,
    require_signed_in,
)
from clinictext.web.render import html

router = APIRouter(include_in_schema=False)
HOME = "/inbox"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a path on this server."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return HOME
    return target[:500]


def _login_page(
    request: Request,
    *,
    email: str = "",
    error: str | None = None,
    next_path: str = HOME,
    status: int = 200,
) -> HTMLResponse:
    token = new_login_csrf()
    response = html(
        request,
        "login.html",
        {"email": email, "error": error, "next_path": next_path, "csrf_token": token},
        status=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request),
        path="/login",
    )
    return response


@router.get("/", response_model=None)
def root(request: Request) -> Response:
    """Browsers land on the inbox (or the sign-in page); programs find the API at /docs."""
    if "text/html" not in request.headers.get("accept", ""):
        return RedirectResponse("/docs", status_code=307)
    return RedirectResponse(HOME if current(request) else "/login", status_code=303)


@router.get("/login", response_model=None)
def login_form(request: Request, next: str | None = None) -> Response:
    if current(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return _login_page(request, next_path=safe_next(next))


@router.post("/login", response_model=None)
def login(
    request: Request,
    email: Annotated[str, Form(max_length=1000)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=1000)] = HOME,
) -> Response:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), csrf_token.encode()):
        raise CsrfRefused()
    if not email.strip() or not password:
        return _login_page(
            request,
            email=email,
            error="Enter your email and your password.",
            next_path=safe_next(next),
            status=422,
        )
    now = utcnow()
    state = request.app.state
    with state.session_factory() as session, session.begin():
        outcome = users.sign_in(session, email, password, now)
        token = web_sessions.start(session, outcome, now) if isinstance(outcome, User) else ""
    if not isinstance(outcome, User):
        refused = _login_page(
            request, email=email, error=outcome.message, next_path=safe_next(next), status=401
        )
        if "retry_after" in outcome.extra:
            refused.headers["Retry-After"] = str(outcome.extra["retry_after"])
        return refused
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", response_model=None)
def logout(
    request: Request,
    signed_in: Annotated[SignedIn, Depends(require_signed_in)],
    _csrf: Annotated[None, Depends(check_csrf)],
) -> Response:
    with request.app.state.session_factory() as session, session.begin():
        web_sessions.end(session, signed_in, utcnow())
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
