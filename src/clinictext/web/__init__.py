"""The staff web app: server-rendered pages (Jinja2) with htmx and our own CSS, served from
the package (no CDN, no build step: a clinic server may have no internet), sign-in with
server-side sessions, and server-sent events for live updates.

Every page works through the same services as the API; the pages only gather what a
screen needs and render it. Errors on these paths are pages, not JSON.
"""

from __future__ import annotations

import logging
import time
from html import escape

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clinictext.api.deps import each_a_unit_of_work
from clinictext.web import events, signin
from clinictext.web.access import CsrfRefused, Forbidden, SignInRequired
from clinictext.web.pages import MODULES
from clinictext.web.render import STATIC, html

log = logging.getLogger(__name__)

# Paths whose answers are pages (errors included). The API lives under /api/v1.
WEB_PREFIXES = (
    "/login",
    "/logout",
    "/leads",
    "/inbox",
    "/patients",
    "/connector",
    "/settings",
    "/templates",
    "/appointments",
    "/campaigns",
    "/confirm",
    "/events",
    "/ui",
)

# Pages show patient data: no caching, no framing, scripts only from this server.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def is_page_path(path: str) -> bool:
    """Whether an answer at ``path`` should be a page rather than JSON."""
    if path == "/":
        return True
    return any(path == p or path.startswith(p + "/") for p in WEB_PREFIXES)


def is_page_request(request: Request) -> bool:
    """Whether an answer to ``request`` should be a page rather than JSON."""
    return is_page_path(request.url.path)


class PageHeaders:
    """The security headers of every page, and ``Server-Timing``: how long the server took
    to build it (what the render benchmark reads, and what a browser's tools show).

    Pure ASGI, adding the headers as the answer starts: Starlette's ``BaseHTTPMiddleware``
    runs every request, API calls included, through a task group and a memory stream,
    which cost more than a small API request itself.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_page_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    headers.setdefault(key, value)
                elapsed_ms = (time.perf_counter() - started) * 1000
                headers["Server-Timing"] = f"app;dur={elapsed_ms:.1f}"
            await send(message)

        await self.app(scope, receive, send_with_headers)


def error_page(request: Request, status: int, message: str) -> Response:
    """An error as a page (or, for an htmx request, as a fragment htmx can show)."""
    template = "_error_fragment.html" if request.headers.get("hx-request") else "error.html"
    try:
        return html(request, template, {"status": status, "message": message}, status=status)
    except Exception:  # the error must still reach the person, if not in the usual frame
        log.exception("the error page could not be rendered")
        return HTMLResponse(
            f"<!doctype html><title>Error</title><p role=alert>{escape(message)}</p>",
            status_code=status,
        )


def install(app: FastAPI) -> None:
    """Mount the static files, the pages and their error answers on ``app``."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (signin, events, *MODULES):
        each_a_unit_of_work(module.router)
        app.include_router(module.router)
    app.add_middleware(PageHeaders)
    app.state.page_errors = lambda request, status, message: (
        error_page(request, status, message) if is_page_request(request) else None
    )

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, _exc: SignInRequired) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        target = request.url.path if request.method == "GET" else "/inbox"
        return RedirectResponse(f"/login?next={target}", status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        return error_page(request, 403, exc.message)

    @app.exception_handler(CsrfRefused)
    async def _csrf(request: Request, _exc: CsrfRefused) -> Response:
        return error_page(
            request,
            403,
            "This form has expired or did not come from this page, so nothing was changed. "
            "Reload the page and try again.",
        )
