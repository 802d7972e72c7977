"""The Twilio adapter: Twilio's REST API over aiohttp, and its webhooks.

aiohttp was chosen by measurement (bench/http_clients.py): on the dispatcher's workload of
many small concurrent form POSTs it sustains several times httpx's request rate. The
official ``twilio`` package is the reference for the REST shape and signs/validates
webhooks (``RequestValidator``); its synchronous client is not used on the send path.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
from pydantic import SecretStr
from twilio.request_validator import RequestValidator, compare

from clinictext.domain.carrier_errors import Effect, lookup
from clinictext.domain.checklist import Verification
from clinictext.domain.statuses import Status
from clinictext.providers.base import (
    CallLog,
    InboundText,
    OutboundText,
    ProviderMessage,
    ProviderUnavailable,
    SendOutcome,
    StatusReport,
)

# Twilio's statuses onto clinictext's: anything the provider holds is "sent" for us.
STATUS_MAP: dict[str, Status] = {
    "accepted": Status.SENT,
    "scheduled": Status.SENT,
    "queued": Status.SENT,
    "sending": Status.SENT,
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "read": Status.DELIVERED,
    "undelivered": Status.UNDELIVERED,
    "failed": Status.FAILED,
    "canceled": Status.CANCELED,
    "partially_delivered": Status.UNDELIVERED,
}
TOLLFREE_STATUS = {"TWILIO_APPROVED": Verification.VERIFIED, "TWILIO_REJECTED": Verification.FAILED}
HOSTED_STATUS = {"completed": Verification.VERIFIED, "failed": Verification.FAILED}


def map_status(raw: str) -> Status:
    try:
        return STATUS_MAP[raw.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown Twilio status {raw!r}") from None


def _date(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        return parsedate_to_datetime(raw).astimezone(UTC)
    except (TypeError, ValueError):
        return None


# Bounds of the fields of a webhook: Twilio's ids are 34 characters, its error codes five
# digits, its addresses E.164 numbers or short codes. Anything else is not from Twilio.
MAX_SID = 64
MAX_ERROR_CODE = 16
MAX_ADDRESS = 20
MAX_SEGMENTS = 100


def _check_field(name: str, value: str, limit: int) -> None:
    """``ValueError`` unless ``value`` is printable ASCII of at most ``limit`` characters."""
    if len(value) > limit or not value.isascii() or not value.isprintable():
        raise ValueError(f"{name} must be at most {limit} printable ASCII characters")


def _redact_form(form: Mapping[str, str]) -> dict[str, str]:
    return {k: (f"[{len(v)} characters]" if k == "Body" else v) for k, v in form.items()}


def _redact_json(data: Any) -> Any:
    if isinstance(data, dict):
        return {
            k: (f"[{len(v)} characters]" if k == "body" and isinstance(v, str) else v)
            for k, v in data.items()
            if k not in ("subresource_uris",)
        }
    return data


# A form encoded here, as aiohttp would encode it: aiohttp's own form support builds a
# multipart writer (and a random boundary) for every request before it finds no files,
# which was a sixth of a worker's CPU per text.
_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


class _Fields(dict[str, str]):
    """Posted fields as the signature check reads them: a field's values through
    ``getall`` (as a multi-dict offers), so the check does not try two other ways first
    and catch an error for each field."""

    def getall(self, name: str) -> list[str]:
        return [self[name]]


class TwilioProvider:
    """One instance per process; ``close()`` it on shutdown."""

    name = "twilio"
    signature_header = "X-Twilio-Signature"
    inbound_ack = ('<?xml version="1.0" encoding="UTF-8"?><Response></Response>', "application/xml")

    def __init__(
        self,
        account_sid: str,
        auth_token: str | SecretStr,
        api_base_url: str = "https://api.twilio.com",
        messaging_base_url: str = "https://messaging.twilio.com",
        numbers_base_url: str = "https://numbers.twilio.com",
        *,
        timeout_s: float = 15.0,
        max_connections: int = 100,
    ) -> None:
        self.account_sid = account_sid
        if isinstance(auth_token, SecretStr):
            auth_token = auth_token.get_secret_value()
        token = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}"}
        self._validator = RequestValidator(auth_token)
        self.api_base = api_base_url.rstrip("/")
        self.messaging_base = messaging_base_url.rstrip("/")
        self.numbers_base = numbers_base_url.rstrip("/")
        # ``sock_connect``, not ``connect``: aiohttp's ``connect`` also counts the wait for a
        # free pooled connection, so the tail of a large hand-off failed after 5 s unsent.
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(5.0, timeout_s))
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        # Calls wait for one of the pool's connections here, before their timer starts.
        self._slots = asyncio.Semaphore(max_connections)

    @property
    def _messages_url(self) -> str:
        return f"{self.api_base}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._slots = asyncio.Semaphore(self._max_connections)  # of this session's loop
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._max_connections),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def _call(
        self,
        operation: str,
        method: str,
        url: str,
        *,
        form: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, Any, CallLog]:
        """One HTTP call; raises ``ProviderUnavailable`` when the provider is unreachable."""
        request: dict[str, Any] = {"method": method, "url": url.split("?")[0]}
        if form is not None:
            request["form"] = _redact_form(form)
        if params:
            request["params"] = params
        http = self._http()
        async with self._slots:
            started = time.perf_counter()
            try:
                async with http.request(
                    method,
                    url,
                    data=None if form is None else urlencode(form).encode(),
                    headers=None if form is None else _FORM_HEADERS,
                    params=params,
                ) as resp:
                    status = resp.status
                    try:
                        payload: Any = await resp.json(content_type=None)
                    except (ValueError, aiohttp.ContentTypeError):
                        payload = {"text": (await resp.text())[:200]}
            except (aiohttp.ClientError, TimeoutError) as err:
                elapsed = (time.perf_counter() - started) * 1000
                reason = type(err).__name__
                if isinstance(err, (TimeoutError, asyncio.TimeoutError)):
                    reason = f"no answer within {self._timeout.total:.0f} s"
                log = CallLog(operation, request, None, None, elapsed, f"unreachable: {reason}")
                raise ProviderUnavailable(
                    f"The SMS provider is unreachable ({reason}).", log
                ) from None
        elapsed = (time.perf_counter() - started) * 1000
        log = CallLog(operation, request, _redact_json(payload), status, elapsed)
        if status >= 500 or status == 429 or status == 401:
            what = {401: "rejected the credentials", 429: "asked to slow down"}.get(
                status, f"answered HTTP {status}"
            )
            log = CallLog(operation, request, log.response, status, elapsed, f"provider {what}")
            raise ProviderUnavailable(f"The SMS provider {what}.", log)
        return status, payload, log

    async def send(self, text: OutboundText) -> SendOutcome:
        form = {
            "To": text.to,
            "From": text.from_,
            "Body": text.body,
            "StatusCallback": text.status_callback,
        }
        try:
            status, payload, log = await self._call("send", "POST", self._messages_url, form=form)
        except ProviderUnavailable as err:
            return SendOutcome(reachable=False, error_message=str(err), log=err.log)
        if 200 <= status < 300 and isinstance(payload, dict) and payload.get("sid"):
            return SendOutcome(
                reachable=True,
                provider_id=str(payload["sid"]),
                status=map_status(str(payload.get("status") or "queued")),
                log=log,
            )
        code = (
            str(payload.get("code")) if isinstance(payload, dict) and payload.get("code") else None
        )
        message = payload.get("message") if isinstance(payload, dict) else None
        entry = lookup(code)
        if entry is not None and entry.effect is Effect.ACCOUNT:
            return SendOutcome(reachable=False, error_code=code, error_message=message, log=log)
        return SendOutcome(
            reachable=True,
            status=Status.FAILED,
            error_code=code or f"http_{status}",
            error_message=message or f"The provider refused the text (HTTP {status}).",
            log=log,
        )

    def _to_message(self, data: dict[str, Any]) -> ProviderMessage:
        code = data.get("error_code")
        return ProviderMessage(
            provider_id=str(data["sid"]),
            to=str(data.get("to") or ""),
            from_=str(data.get("from") or ""),
            body=str(data.get("body") or ""),
            status=map_status(str(data.get("status") or "queued")),
            created_at=_date(data.get("date_created")),
            error_code=str(code) if code not in (None, "") else None,
            error_message=data.get("error_message"),
        )

    async def fetch(self, provider_id: str) -> ProviderMessage | None:
        url = f"{self.api_base}/2010-04-01/Accounts/{self.account_sid}/Messages/{provider_id}.json"
        status, payload, _ = await self._call("fetch", "GET", url)
        if status == 404:
            return None
        if status != 200 or not isinstance(payload, dict):
            raise ProviderUnavailable(f"Fetching {provider_id} answered HTTP {status}.")
        return self._to_message(payload)

    async def find(self, to: str, from_: str, since: datetime) -> list[ProviderMessage]:
        params = {
            "To": to,
            "From": from_,
            "DateSent>": since.strftime("%Y-%m-%d"),
            "PageSize": "100",
        }
        url: str | None = self._messages_url
        found: list[ProviderMessage] = []
        pages = 0
        while url and pages < 20:
            status, payload, _ = await self._call("list", "GET", url, params=params)
            if status != 200 or not isinstance(payload, dict):
                raise ProviderUnavailable(f"Listing messages answered HTTP {status}.")
            for item in payload.get("messages", []):
                message = self._to_message(item)
                if message.created_at is None or message.created_at >= since:
                    found.append(message)
            next_uri = payload.get("next_page_uri")
            url = f"{self.api_base}{next_uri}" if next_uri else None
            params = {}
            pages += 1
        return found

    async def sender_verification(self, number: str, kind: str) -> Verification:
        if kind not in ("toll_free", "landline"):
            return Verification.VERIFIED
        if kind == "landline":
            url = f"{self.numbers_base}/v2/HostedNumber/Orders"
            status, payload, _ = await self._call(
                "verification", "GET", url, params={"PhoneNumber": number}
            )
            items = payload.get("items", []) if isinstance(payload, dict) else []
            raw = str(items[0].get("status", "")) if status == 200 and items else ""
            return HOSTED_STATUS.get(raw, Verification.PENDING)
        url = f"{self.api_base}/2010-04-01/Accounts/{self.account_sid}/IncomingPhoneNumbers.json"
        status, payload, _ = await self._call(
            "verification", "GET", url, params={"PhoneNumber": number}
        )
        numbers = payload.get("incoming_phone_numbers", []) if isinstance(payload, dict) else []
        if status != 200 or not numbers:
            return Verification.PENDING
        url = f"{self.messaging_base}/v1/Tollfree/Verifications"
        status, payload, _ = await self._call(
            "verification", "GET", url, params={"TollfreePhoneNumberSid": str(numbers[0]["sid"])}
        )
        items = payload.get("verifications", []) if isinstance(payload, dict) else []
        raw = str(items[0].get("status", "")) if status == 200 and items else ""
        return TOLLFREE_STATUS.get(raw, Verification.PENDING)

    async def ping(self) -> CallLog:
        status, _, log = await self._call(
            "ping", "GET", self._messages_url, params={"PageSize": "1"}
        )
        if status != 200:
            raise ProviderUnavailable(f"The provider answered HTTP {status}.", log)
        return log

    def verify_signature(self, url: str, params: Mapping[str, str], signature: str) -> bool:
        """Twilio's own check. The URL as configured signs nearly every request, so it is
        tried first (one HMAC); only a mismatch runs the package's full check, which signs
        the URL both with and without its port (two more)."""
        if not signature:
            return False
        fields = _Fields(params)
        if compare(self._validator.compute_signature(url, fields), signature):
            return True
        return bool(self._validator.validate(url, fields, signature))

    def parse_status(self, params: Mapping[str, str]) -> StatusReport:
        sid = params.get("MessageSid") or params.get("SmsSid") or ""
        raw = params.get("MessageStatus") or params.get("SmsStatus") or ""
        if not sid or not raw:
            raise ValueError("a status callback needs MessageSid and MessageStatus")
        code = params.get("ErrorCode") or None
        _check_field("MessageSid", sid, MAX_SID)
        if code is not None:
            _check_field("ErrorCode", code, MAX_ERROR_CODE)
        return StatusReport(sid, map_status(raw), code if code not in ("0",) else None, raw)

    def parse_inbound(self, params: Mapping[str, str]) -> InboundText:
        sid = params.get("MessageSid") or params.get("SmsMessageSid") or params.get("SmsSid") or ""
        sender, to = params.get("From", ""), params.get("To", "")
        if not sid or not sender or not to:
            raise ValueError("an inbound text needs MessageSid, From and To")
        _check_field("MessageSid", sid, MAX_SID)
        _check_field("From", sender, MAX_ADDRESS)
        _check_field("To", to, MAX_ADDRESS)
        try:
            segments = int(params.get("NumSegments") or 1)
        except ValueError:
            segments = 1
        if not 1 <= segments <= MAX_SEGMENTS:
            segments = 1
        # A patient's text is kept even if a NUL slipped in (no database stores one).
        body = params.get("Body", "").replace("\x00", "\ufffd")
        return InboundText(sid, sender, to, body, segments)
