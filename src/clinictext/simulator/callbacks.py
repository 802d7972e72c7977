"""Signed webhooks: status callbacks (with delays, retries and chaos) and inbound texts.

Every webhook is form-encoded and signed like Twilio's: ``X-Twilio-Signature`` is
``RequestValidator(auth_token).compute_signature(url, params)`` over the exact URL posted to,
query string included. Status callbacks to ``http://`` go through ``http11`` (a third of
the CPU aiohttp took for them); everything else through one aiohttp session that serves the
whole life of the app. Each accepted message gets one asyncio task that walks it through
``sent`` and its final status, so the REST answer never waits for a callback.
:meth:`CallbackDispatcher.aclose` cancels those tasks.

At most ``callback_concurrency`` webhooks are in flight; the others wait for a turn before
their timeout starts. aiohttp's own timeout counts the wait for a pooled connection too, so
a burst larger than the pool, sent to a server slower than the timeout allows for the whole
queue, would record attempts that never left as timed out and give callbacks up unsent.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import os
from collections.abc import Coroutine
from typing import Any
from urllib.parse import urlencode

import aiohttp
from yarl import URL

from clinictext.simulator import http11
from clinictext.simulator.resources import API_VERSION
from clinictext.simulator.settings import SimulatorSettings
from clinictext.simulator.state import CallbackAttempt, CarrierState, Message, utcnow

USER_AGENT = "TwilioProxy/1.1"


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """``X-Twilio-Signature``: base64 HMAC-SHA1 of the URL followed by each field's name and
    value in name order. Twilio's own ``RequestValidator.compute_signature`` gives the same
    answer (the tests check it), but looks each value up through two caught AttributeErrors:
    a sixth of a callback's cost when thousands go out a second."""
    text = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.digest(auth_token.encode(), text.encode(), "sha1")
    return base64.b64encode(digest).decode()


def status_callback_params(message: Message, status: str, error_code: int | None) -> dict[str, str]:
    """The form fields of Twilio's status callback for an outbound message."""
    params = {
        "MessageSid": message.sid,
        "SmsSid": message.sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "AccountSid": message.account_sid,
        "From": message.from_,
        "To": message.to,
        "ApiVersion": API_VERSION,
    }
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    if status == "delivered":
        params["RawDlrDoneDate"] = utcnow().strftime("%y%m%d%H%M")  # YYMMDDhhmm
    return params


class CallbackDispatcher:
    """Posts signed webhooks and runs the delivery life of each accepted message."""

    def __init__(self, settings: SimulatorSettings, state: CarrierState) -> None:
        self.settings = settings
        self.state = state
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._turns = asyncio.Semaphore(settings.callback_concurrency)  # new with each session
        self._http11 = http11.Http11Pool(USER_AGENT)

    # -- plumbing ----------------------------------------------------------------------------

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._turns = asyncio.Semaphore(self.settings.callback_concurrency)
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.callback_timeout_s),
                headers={"User-Agent": USER_AGENT},
                connector=aiohttp.TCPConnector(limit=self.settings.callback_concurrency),
            )
        return self._session

    def sign(self, url: str, params: dict[str, str]) -> str:
        return twilio_signature(self.settings.auth_token, url, params)

    async def post_signed(
        self,
        url: str,
        params: dict[str, str],
        *,
        idempotency_token: str | None = None,
        timeout_s: float | None = None,
    ) -> tuple[int, str]:
        """POST a signed form to ``url``; the HTTP status and body text (errors propagate).
        Waits for a turn first (``callback_concurrency``); the timeout starts after it."""
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": self.sign(url, params),
            "I-Twilio-Idempotency-Token": idempotency_token or os.urandom(16).hex(),
        }
        # Passing timeout=None would mean no timeout at all, not the session's.
        total = timeout_s or self.settings.callback_timeout_s
        client = self._client()
        # encoded=True: post to exactly the URL that was signed, without re-quoting it.
        async with (
            self._turns,
            client.post(
                URL(url, encoded=True),
                data=urlencode(params).encode(),
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=total),
            ) as response,
        ):
            return response.status, await response.text()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def pending(self) -> int:
        """How many message lifecycles are still running."""
        return len(self._tasks)

    async def cancel_all(self) -> None:
        """Cancel every pending lifecycle and wait until they have stopped."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.difference_update(tasks)

    async def aclose(self) -> None:
        """Stop all deliveries and close the HTTP session (the app's shutdown)."""
        await self.cancel_all()
        self._http11.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- status callbacks --------------------------------------------------------------------

    def start_lifecycle(self, message: Message) -> None:
        """Schedule ``sent`` then the final status for an accepted outbound message."""
        self._spawn(self._lifecycle(message))

    async def _lifecycle(self, message: Message) -> None:
        final = message.final_status or "delivered"
        steps: list[tuple[str, int | None]] = [("sent", None), (final, message.planned_error)]
        if self.state.chaos.reorder:
            steps.reverse()
        for status, error_code in steps:
            await asyncio.sleep(self.state.draw_delay_ms() / 1000)
            self.state.advance(message, status, error_code)
            url = message.status_callback
            if not url:
                continue
            params = status_callback_params(message, status, error_code)
            for copy in range(1 + self.state.chaos.duplicate_callbacks):
                await self._deliver(message.sid, url, params, copy)

    async def _deliver(self, sid: str, url: str, params: dict[str, str], copy: int) -> None:
        """One callback, retried with exponential back-off on connection errors and 5xx."""
        token = os.urandom(16).hex()
        retries = max(0, self.settings.callback_retries)
        for attempt in range(retries + 1):
            http_status: int | None = None
            error: str | None = None
            try:
                http_status = await self._post_callback(url, params, token)
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}".rstrip(": ")
            except Exception as exc:  # not worth retrying (a malformed URL...): record, stop
                error = f"{type(exc).__name__}: {exc}".rstrip(": ")
                retries = attempt
            self.state.record_callback(
                CallbackAttempt(
                    sid=sid,
                    url=url,
                    status=params["MessageStatus"],
                    http_status=http_status,
                    at=utcnow(),
                    attempt=attempt + 1,
                    copy=copy,
                    error=error,
                )
            )
            if http_status is not None and http_status < 500:
                return
            if attempt < retries:
                await asyncio.sleep(self.settings.callback_backoff_ms * (2**attempt) / 1000)

    async def _post_callback(self, url: str, params: dict[str, str], token: str) -> int:
        """One attempt at a status callback; its HTTP status."""
        if not http11.handles(url):
            status, _ = await self.post_signed(url, params, idempotency_token=token)
            return status
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": self.sign(url, params),
            "I-Twilio-Idempotency-Token": token,
        }
        body = urlencode(params).encode()
        self._client()  # the turns belong to the current session
        async with self._turns:
            status, _ = await self._http11.post_form(
                url, body, headers, self.settings.callback_timeout_s
            )
        return status

    # -- inbound -----------------------------------------------------------------------------

    async def send_inbound(self, url: str, params: dict[str, str]) -> tuple[int, str]:
        """Deliver an inbound text once (Twilio does not retry these); status and body."""
        return await self.post_signed(url, params, timeout_s=30.0)
