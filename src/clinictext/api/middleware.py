"""What every request passes through before the routes: the health check, the body-size
cap, a query string without NUL characters, and access logs that name no patient.

All of it is pure ASGI (no ``BaseHTTPMiddleware``, which costs a task group and a stream a
request). The cap reads the body as it streams in and answers 413 as soon as it passes the
limit, before anything parses it, whether the client declared a ``Content-Length`` or sent
it in chunks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Nothing this API takes comes near it: the largest request, a message body, is 1,600
# characters; a form-encoded provider webhook is a few hundred bytes.
MAX_BODY_BYTES = 1_000_000

TOO_LARGE_MESSAGE = (
    f"The request body is larger than {MAX_BODY_BYTES // 1_000_000} MB, the most this server "
    "accepts. Send less at a time (for example, fewer patients per request)."
)


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


async def too_large(send: Send) -> None:
    body = json.dumps(
        {"error": {"code": "payload_too_large", "message": TOO_LARGE_MESSAGE}}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is never read: this connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def read_capped(receive: Receive, max_bytes: int) -> bytes | Message | None:
    """The whole body as it streams in; ``None`` once it passes ``max_bytes`` (the rest is
    never read); the message that ended it early when the client went away."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return message
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class _Replay:
    """The body read so far, handed to the app as one message; then the server's own.

    ``transport`` is the server's, where it exposes one (the carrier simulator's outage
    mode finds the connection through ``receive.__self__.transport``).
    """

    def __init__(self, first: Message, receive: Receive) -> None:
        self._first: Message | None = first
        self._receive = receive
        self.transport = getattr(getattr(receive, "__self__", None), "transport", None)

    async def receive(self) -> Message:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return await self._receive()


class BodySizeLimit:
    """Answers 413 ``payload_too_large`` to a body over ``max_bytes``, before the app reads it.

    A declared ``Content-Length`` over the limit is refused at once; otherwise the body is
    counted as it arrives (chunked bodies declare nothing) and handed on in one piece. It is
    at most ``max_bytes`` long, and every route reads its whole body anyway.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            await too_large(send)
            return
        body = await read_capped(receive, self.max_bytes)
        if body is None:
            await too_large(send)
            return
        if not isinstance(body, bytes):  # the client went away: let the app see it
            await self.app(scope, _Replay(body, receive).receive, send)
            return
        whole = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _Replay(whole, receive).receive, send)


class NulFreeQuery:
    """Answers 422 to a query string holding a NUL character (``%00``).

    No parameter may hold one, and PostgreSQL cannot even compare text with one: a search
    for ``?q=a%00b`` failed inside the database.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if b"%00" in query or b"\x00" in query:
            body = json.dumps(
                {
                    "error": {
                        "code": "invalid_request",
                        "message": "The address's query holds a NUL character (%00), which no "
                        "parameter may contain; remove it.",
                    }
                }
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 422,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


class HealthCheck:
    """Answers ``GET /healthz`` ahead of the framework, once the database has answered.

    A load balancer asks often, and through FastAPI a sync route costs a thread hop,
    dependency solving, a response model and every middleware: several times the work of
    the check itself. Here each check waits for a probe of the database (``probe``, run in
    a worker thread) that *began after the check arrived*, so every 200 still proves the
    database answered; checks that arrive together share one probe. When the probe fails,
    the check is handed to the app's own ``/healthz`` route, which tries again and answers
    the failure as every route does (503 with ``Retry-After``).
    """

    PATH = "/healthz"

    def __init__(self, app: ASGIApp, probe: Callable[[], None], body: bytes) -> None:
        self.app = app
        self.probe = probe
        self.body = body
        self._next: asyncio.Future[None] | None = None  # the probe not yet begun
        self._runner: asyncio.Task[None] | None = None
        self._limiter: anyio.CapacityLimiter | None = None  # made in the event loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != self.PATH
            or scope["method"] != "GET"
            or scope.get("query_string")
        ):
            await self.app(scope, receive, send)
            return
        try:
            await asyncio.shield(self._join_next_probe())
        except Exception:  # the route probes again and answers the failure
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(self.body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": self.body})

    def _join_next_probe(self) -> asyncio.Future[None]:
        if self._runner is None or self._runner.done():  # (a runner may die with its loop)
            self._next = asyncio.get_running_loop().create_future()
            self._runner = asyncio.create_task(self._run_probes())
        elif self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        return self._next

    async def _run_probes(self) -> None:
        while self._next is not None:
            probed, self._next = self._next, None
            try:
                # A thread of its own: a check waits for the database, not for the
                # requests queued for the request threads (``Settings.request_threads``).
                if self._limiter is None:
                    self._limiter = anyio.CapacityLimiter(1)
                await anyio.to_thread.run_sync(self.probe, limiter=self._limiter)
            except Exception as exc:
                probed.set_exception(exc)
                probed.exception()  # retrieved: every waiter falls back to the route
            else:
                probed.set_result(None)


# --- logs -------------------------------------------------------------------------------


class PathOnlyAccessLog(logging.Filter):
    """Drops the query string from uvicorn's access log lines, and the lines of health
    checks that passed.

    Queries carry patients' names and numbers (``/api/v1/patients?q=Ana&phone=...``); the
    path and the status are what an operator needs. A load balancer's passing checks are
    most of the lines and say nothing (and writing them cost a quarter of a check); a
    failing one is kept.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn logs '%s - "%s %s HTTP/%s" %d' with (client, method, path, version, status).
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            path = args[2].split("?", 1)[0]
            if path == HealthCheck.PATH and args[4] == 200:
                return False
            record.args = (args[0], args[1], path, args[3], args[4])
        return True


def redacted_traceback(exc: BaseException) -> str:
    """A traceback with the exception types and frames but none of their messages.

    A database error's message holds the statement's parameters: names, numbers, bodies.
    """
    lines: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    chain: list[BaseException] = []
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    for item in reversed(chain):
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_tb(item.__traceback__))
        kind = type(item)
        lines.append(f"{kind.__module__}.{kind.__qualname__} (message withheld: it may hold PHI)\n")
    return "".join(lines).rstrip("\n")


class RedactedTracebacks(logging.Filter):
    """Logs an exception's traceback without its message (see :func:`redacted_traceback`).

    Installed on uvicorn's error log, which prints every exception that reaches the server.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None and record.levelno > logging.DEBUG:
            record.exc_text = redacted_traceback(record.exc_info[1])
        return True


ACCESS_LOG_FILTER = PathOnlyAccessLog()
TRACEBACK_FILTER = RedactedTracebacks()


def install_log_filters() -> None:
    """Attach the filters to uvicorn's loggers (idempotent; survives uvicorn's dictConfig)."""
    logging.getLogger("uvicorn.access").addFilter(ACCESS_LOG_FILTER)
    logging.getLogger("uvicorn.error").addFilter(TRACEBACK_FILTER)


def install(app: FastAPI, **options: Any) -> None:
    """The body cap and the query check in front of every route (the mounted simulator's
    too), and the log filters."""
    app.add_middleware(NulFreeQuery)
    app.add_middleware(BodySizeLimit, **options)
    install_log_filters()
