"""What the provider posts to create a message is the form Twilio reads: url-encoded, UTF-8,
every field as given (accents, emoji, '&', '+', '=' and new lines included)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from clinictext.providers.base import OutboundText
from clinictext.providers.twilio import TwilioProvider
from tests.providers.messages_api import messages_api

pytestmark = pytest.mark.timeout(60)

SID = "AC" + "2" * 32
BODY = "Hola Peña 🙂 — 50% off & free x-rays? a+b=c\nReply STOP"


def test_the_create_message_form_arrives_as_sent() -> None:
    async def run() -> tuple[Any, Any, bool]:
        seen: dict[str, Any] = {}

        async def create(request: web.Request) -> web.Response:
            seen["type"] = request.content_type
            seen["form"] = dict(await request.post())
            return web.json_response({"sid": "SM" + "9" * 32, "status": "queued"}, status=201)

        async with messages_api(SID, create) as base:
            provider = TwilioProvider(SID, "token", base)
            try:
                text = OutboundText(
                    7, "+15551230000", "+15559870000", BODY, "http://x/cb?mid=7&a=b"
                )
                outcome = await provider.send(text)
            finally:
                await provider.close()
        return seen["type"], seen["form"], outcome.provider_id is not None

    content_type, form, sent = asyncio.run(run())
    assert sent
    assert content_type == "application/x-www-form-urlencoded"
    assert form == {
        "To": "+15551230000",
        "From": "+15559870000",
        "Body": BODY,
        "StatusCallback": "http://x/cb?mid=7&a=b",
    }
