"""Provider webhooks answered ahead of the framework: the busiest requests, the least work.

A carrier posts a status callback or two for every text and an inbound text for every
reply: thousands a minute from a campaign. Through FastAPI each one passed the middleware
stack, route matching over every route, the request handler and dependency solving before
the webhook's own work began, and that machinery cost as much CPU as the webhook itself
(verifying the signature, parsing, recording). This layer, outermost in the app, takes a
well-formed webhook (``POST`` of a url-encoded form to one of the two paths, with a
query string free of NUL) straight to the same answers the routes give
(``webhooks.answer_status`` / ``answer_inbound``): the same signature check, the same
writer, the same responses. Anything else (another content type, a body the size cap
refuses, a NUL in the query, a mounted prefix) goes on to the app and its routes
unchanged, so every refusal stays where it is written once.

Written by hand because no maintained library answers a route ahead of FastAPI; it is
the pattern of ``middleware.HealthCheck``.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from clinictext.api import webhooks
from clinictext.api.middleware import MAX_BODY_BYTES, header, read_capped, too_large

log = logging.getLogger("clinictext.webhooks")

STATUS_PATH = webhooks.router.prefix + "/status"
INBOUND_PATH = webhooks.router.prefix + "/sms"
_URLENCODED = webhooks.URLENCODED.encode()


class WebhookFastPath:
    def __init__(self, app: ASGIApp, fastapi: Any, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.fastapi = fastapi  # whose state holds the settings, provider and writer
        self.max_bytes = max_bytes
        self._signature: bytes | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._takes(scope):
            await self.app(scope, receive, send)
            return
        body = await read_capped(receive, self.max_bytes)
        if body is None:
            await too_large(send)
            return
        if not isinstance(body, bytes):
            return  # the client went away
        try:
            response = await self._answer(scope, body)
        except Exception:  # as the route answers a failure to record: sent again later
            log.exception("a webhook could not be answered; the provider will retry it")
            response = webhooks.busy("The webhook could not be recorded.")
        await response(scope, receive, send)

    def _takes(self, scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            return False
        if scope["path"] not in (STATUS_PATH, INBOUND_PATH):
            return False
        query: bytes = scope.get("query_string", b"")
        if b"%00" in query or b"\x00" in query:
            return False  # ``middleware.NulFreeQuery`` answers it
        kind = header(scope, b"content-type") or b""
        if kind.split(b";", 1)[0].strip().lower() != _URLENCODED:
            return False
        declared = header(scope, b"content-length")
        # A declared length over the cap: ``middleware.BodySizeLimit`` refuses it.
        return not (declared and declared.strip().isdigit() and int(declared) > self.max_bytes)

    async def _answer(self, scope: Scope, body: bytes) -> Response:
        try:
            params = webhooks.parse_urlencoded(body)
        except ValueError:
            return webhooks.malformed_form()
        state = self.fastapi.state
        query = scope.get("query_string", b"").decode("latin-1")
        url = webhooks.signed_url(state.settings, scope["path"], query)
        if self._signature is None:
            self._signature = state.provider.signature_header.lower().encode()
        signature = (header(scope, self._signature) or b"").decode("latin-1")
        if scope["path"] == STATUS_PATH:
            return await webhooks.answer_status(self.fastapi, url, signature, params, _mid(query))
        return await webhooks.answer_inbound(self.fastapi, url, signature, params)


def _mid(query: str) -> str:
    """The ``mid`` parameter of the status callback's query (``?mid=42``), as Starlette's
    ``query_params.get`` reads it: the last one given."""
    if "mid=" not in query:
        return ""
    found = ""
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "mid":
            found = value
    return found


def install(app: Any) -> None:
    """Add the fast path as the app's outermost middleware."""
    app.add_middleware(WebhookFastPath, fastapi=app)
