"""Simulated outages of the REST API (the control API under ``/_control`` is never affected).

``down`` with failure ``503`` answers 503 with Twilio's error JSON (code 20503); ``hang`` holds
the request until the client gives up (or the outage changes, or 120 s pass); ``reset`` drops
the connection without an answer. ``slow`` delays every answer by ``delay_ms``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from clinictext.simulator.resources import route_path, twilio_error
from clinictext.simulator.state import CarrierState

HANG_LIMIT_S = 120.0
CONTROL_PREFIX = "/_control"


def is_control_path(scope: Scope) -> bool:
    path = route_path(scope)
    return path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/")


async def _wait_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def _server_transport(receive: Receive) -> Any:
    """The connection's transport, when the server exposes it (uvicorn's request cycle does)."""
    owner = getattr(receive, "__self__", None)
    transport = getattr(owner, "transport", None)
    return transport if hasattr(transport, "abort") else None


class OutageMiddleware:
    """Applies the current :class:`~clinictext.simulator.state.Outage` to REST requests."""

    def __init__(self, app: ASGIApp, state: CarrierState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_control_path(scope):
            await self.app(scope, receive, send)
            return
        outage = self.state.outage
        if outage.mode == "slow":
            await asyncio.sleep(max(0, outage.delay_ms) / 1000)
        elif outage.mode == "down":
            if outage.failure == "reset":
                await self._reset(receive, send)
                return
            if outage.failure == "hang" and await self._hang(receive):
                return  # the client went away: nothing to answer
            response = twilio_error(503, 20503, "Service Unavailable")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _hang(self, receive: Receive) -> bool:
        """Wait for the client to disconnect (True), the outage to change or the limit."""
        changed = self.state.outage_changed
        disconnect = asyncio.create_task(_wait_disconnect(receive))
        outage_over = asyncio.create_task(changed.wait())
        try:
            done, _ = await asyncio.wait(
                {disconnect, outage_over},
                timeout=HANG_LIMIT_S,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for task in (disconnect, outage_over):
                task.cancel()
            await asyncio.gather(disconnect, outage_over, return_exceptions=True)
        return disconnect in done and not disconnect.cancelled()

    async def _reset(self, receive: Receive, send: Send) -> None:
        """Close the connection without an answer (a TCP reset when the server allows it)."""
        transport = _server_transport(receive)
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError, AttributeError, TypeError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
            # Let the server notice the lost connection so it does not try to answer.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(_wait_disconnect(receive), timeout=1.0)
            return
        # Fallback for servers that hide the transport: start an answer and abandon it, which
        # makes the server close the connection mid-response.
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [(b"content-length", b"1024"), (b"connection", b"close")],
            }
        )
