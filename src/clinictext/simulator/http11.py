"""A small HTTP/1.1 client for status callbacks: keep-alive form POSTs to plain ``http://``.

Why hand-written: every text the simulator accepts costs it two callbacks, each one small
form POST to one of a few hosts, and aiohttp's general request machinery (URL objects,
payload registry, auto headers, tracing hooks) was a third of the simulator's CPU per text
(py-spy, callbacks to a sink). Here a request is one buffer written to an idle connection
and the answer is parsed by httptools, the C parser uvicorn uses. Anything else (``https``,
credentials in the URL) still goes through aiohttp, as do inbound texts.

One request at a time per connection; a connection goes back to its host's idle list when
the answer said keep-alive. A reused connection that the server had already closed (its
keep-alive timeout) is replaced once, transparently, when not a byte of answer came back.
"""

from __future__ import annotations

import asyncio
from typing import cast
from urllib.parse import SplitResult, urlsplit

import httptools


class ConnectionFailed(ConnectionError):
    """The connection broke before a whole answer arrived."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection: write a request, wait for its whole answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.keep_alive = True
        self.answered = False  # some bytes of the current answer arrived
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None

    # -- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.answered = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ConnectionFailed(f"unreadable answer: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done() and self._parser.get_status_code():
            # An answer without a length ends with the connection.
            waiter.set_result((self._parser.get_status_code(), b"".join(self._body)))
            return
        self._fail(ConnectionFailed(str(exc) if exc else "the server closed the connection"))

    # -- httptools callbacks -----------------------------------------------------------------

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self._parser.should_keep_alive()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result((self._parser.get_status_code(), b"".join(self._body)))

    # -- use ---------------------------------------------------------------------------------

    async def request(self, data: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self._parser = httptools.HttpResponseParser(self)
        self._body = []
        self.answered = False
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self._waiter

    def _fail(self, exc: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def handles(url: str) -> bool:
    """True for the URLs this client posts to: ``http://`` without credentials."""
    parts = urlsplit(url)
    return parts.scheme == "http" and bool(parts.hostname) and not parts.username


class Http11Pool:
    """Idle keep-alive connections by host and port."""

    def __init__(self, user_agent: str) -> None:
        self.user_agent = user_agent
        self._idle: dict[tuple[str, int], list[_Connection]] = {}

    async def post_form(
        self, url: str, body: bytes, headers: dict[str, str], timeout_s: float
    ) -> tuple[int, bytes]:
        """POST ``body`` (form-encoded) to ``url`` exactly as given; status and body.

        Raises ``TimeoutError`` after ``timeout_s`` and ``OSError`` (``ConnectionFailed``,
        refused...) when the connection fails."""
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port or 80
        data = self._request_bytes(parts, body, headers)
        async with asyncio.timeout(timeout_s):
            idle = self._take(host, port)
            if idle is not None:
                try:
                    return self._done(host, port, idle, await idle.request(data))
                except ConnectionFailed:
                    idle.close()
                    if idle.answered:
                        raise
                except BaseException:
                    idle.close()
                    raise
            connection = await self._connect(host, port)
            try:
                return self._done(host, port, connection, await connection.request(data))
            except BaseException:
                connection.close()
                raise

    def _request_bytes(self, parts: SplitResult, body: bytes, headers: dict[str, str]) -> bytes:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [
            f"POST {target} HTTP/1.1",
            f"Host: {parts.netloc}",
            f"User-Agent: {self.user_agent}",
            *(f"{name}: {value}" for name, value in headers.items()),
            f"Content-Length: {len(body)}",
            "",
            "",
        ]
        return "\r\n".join(lines).encode("latin-1") + body

    def _take(self, host: str, port: int) -> _Connection | None:
        idle = self._idle.get((host, port))
        while idle:
            connection = idle.pop()
            if not connection.closed:
                return connection
        return None

    def _done(
        self, host: str, port: int, connection: _Connection, answer: tuple[int, bytes]
    ) -> tuple[int, bytes]:
        if connection.keep_alive and not connection.closed:
            self._idle.setdefault((host, port), []).append(connection)
        else:
            connection.close()
        return answer

    @staticmethod
    async def _connect(host: str, port: int) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(_Connection, host, port)
        return connection

    def close(self) -> None:
        """Close every idle connection."""
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
