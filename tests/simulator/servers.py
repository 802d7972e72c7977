"""Test helpers: run ASGI apps with uvicorn on free local ports, and a webhook receiver."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

WAIT_S = 15.0


class ServerThread:
    """uvicorn serving ``app`` on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", timeout_graceful_shutdown=3
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + WAIT_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(WAIT_S)
        self.sock.close()
        assert not self.thread.is_alive(), "the test server did not stop"

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Received:
    path: str
    url: str
    params: dict[str, str]
    signature: str
    headers: dict[str, str]


TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Got it</Message></Response>'


class Receiver:
    """An app that records every POST; ``fail(path, n)`` makes the next n answers 500 and
    ``hold(path)`` keeps answers to ``path`` waiting until the returned event is set."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Received] = []
        self._failures: dict[str, int] = {}
        self._holds: dict[str, threading.Event] = {}
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])

    async def _handle(self, request: Request) -> Response:
        body = (await request.body()).decode()
        params: dict[str, str] = {}
        for key, value in parse_qsl(body, keep_blank_values=True):
            params.setdefault(key, value)
        path = request.url.path
        received = Received(
            path=path,
            url=str(request.url),
            params=params,
            signature=request.headers.get("x-twilio-signature", ""),
            headers=dict(request.headers),
        )
        with self._lock:
            self._requests.append(received)
            held = self._holds.get(path)
        if held is not None:
            await anyio.to_thread.run_sync(held.wait)
        with self._lock:
            if self._failures.get(path, 0) > 0:
                self._failures[path] -= 1
                return Response("try again", status_code=500)
        if path.startswith("/sms"):
            return Response(TWIML, media_type="application/xml")
        return Response(status_code=204)

    def fail(self, path: str, times: int) -> None:
        with self._lock:
            self._failures[path] = times

    def hold(self, path: str) -> threading.Event:
        with self._lock:
            return self._holds.setdefault(path, threading.Event())

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._failures.clear()
            for event in self._holds.values():
                event.set()
            self._holds.clear()

    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._requests if path is None or r.path == path]

    def wait_for(
        self, path: str, predicate: Callable[[list[Received]], bool], timeout: float = WAIT_S
    ) -> list[Received]:
        """Wait until the requests to ``path`` satisfy ``predicate``; fail after ``timeout``."""
        return wait_until(lambda: self.requests(path), predicate, timeout)


def wait_until(
    fetch: Callable[[], Any], predicate: Callable[[Any], bool], timeout: float = WAIT_S
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fetch()
        if predicate(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout} s; last value: {value!r}")
        time.sleep(0.02)
