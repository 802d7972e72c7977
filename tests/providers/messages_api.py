"""A stand-in for Twilio's Messages endpoint on loopback, answering with ``handler``: for
tests of what the adapter sends and how it waits, where the carrier simulator's own
behaviour would be in the way."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web


@asynccontextmanager
async def messages_api(
    sid: str, handler: Callable[[web.Request], Awaitable[web.Response]]
) -> AsyncIterator[str]:
    """Serve ``POST /2010-04-01/Accounts/<sid>/Messages.json`` for the block; its base URL."""
    app = web.Application()
    app.router.add_post(f"/2010-04-01/Accounts/{sid}/Messages.json", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
