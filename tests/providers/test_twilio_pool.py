"""The provider's timeout covers a call to the provider, not its wait for a free connection.

A worker hands over hundreds of texts at once through a pool of a few connections; before,
the texts at the back of that queue ran out of time while they waited and were reported
"unreachable" without ever being sent.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable

import pytest
from aiohttp import web

from clinictext.providers.base import OutboundText
from clinictext.providers.twilio import TwilioProvider
from tests.providers.messages_api import messages_api

pytestmark = pytest.mark.timeout(60)

SID = "AC" + "1" * 32
ANSWER_AFTER_S = 0.3  # a slow provider: each answer takes this long
TIMEOUT_S = 2.0  # longer than one answer, shorter than the whole queue's
TEXTS = 12  # 12 answers in a row through one connection take 3.6 s


def _slow_create(seen: dict[str, int]) -> Callable[[web.Request], Awaitable[web.Response]]:
    ids = itertools.count(1)

    async def create(_request: web.Request) -> web.Response:
        seen["now"] += 1
        seen["most"] = max(seen["most"], seen["now"])
        try:
            await asyncio.sleep(ANSWER_AFTER_S)
        finally:
            seen["now"] -= 1
        seen["answered"] += 1
        return web.json_response({"sid": f"SM{next(ids):032d}", "status": "queued"}, status=201)

    return create


def test_texts_waiting_for_a_connection_are_sent_not_timed_out() -> None:
    async def run() -> tuple[list[bool], dict[str, int]]:
        seen = {"now": 0, "most": 0, "answered": 0}
        async with messages_api(SID, _slow_create(seen)) as base:
            provider = TwilioProvider(SID, "token", base, timeout_s=TIMEOUT_S, max_connections=1)
            try:
                outcomes = await asyncio.gather(
                    *(
                        provider.send(
                            OutboundText(i, "+15551230000", "+15559870000", "hi", "http://x/cb")
                        )
                        for i in range(TEXTS)
                    )
                )
            finally:
                await provider.close()
        return [o.reachable and o.provider_id is not None for o in outcomes], seen

    sent, seen = asyncio.run(run())
    assert all(sent), f"{sent.count(False)} of {TEXTS} texts reported unreachable"
    assert seen["answered"] == TEXTS
    assert seen["most"] == 1  # one connection: the calls queued, they did not run at once
