"""Twilio's wire formats: resource JSON, error JSON, dates, HTTP Basic authentication.

Twilio's ``uri`` fields (and ``first_page_uri``/``next_page_uri``) are relative to the API's
base URL (``https://api.twilio.com`` on Twilio, the simulator's own base URL here), so they
are returned as paths starting with ``/2010-04-01``; twilio-python joins them to the base URL
it was given. Absolute URLs (the ``url`` fields of the v1/v2 APIs) are built from the request,
so they include the prefix the simulator is mounted under.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
from collections.abc import Mapping
from datetime import datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

from clinictext.simulator.settings import SimulatorSettings
from clinictext.simulator.state import Message, Sender

API_VERSION = "2010-04-01"


def rfc2822(moment: datetime | None) -> str | None:
    """``Thu, 24 Aug 2023 05:01:45 +0000``, the format of the 2010-04-01 API's dates."""
    return _rfc2822(moment) if moment is not None else None


@functools.lru_cache(maxsize=256)
def _rfc2822(moment: datetime) -> str:
    # Dates are to the second and most answers are about the last few seconds: formatting
    # each once saves a tenth of a message's creation.
    return format_datetime(moment)


def iso8601(moment: datetime) -> str:
    """``2023-08-24T05:01:45Z``, the format of the v1 and v2 APIs' dates."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def base_url(request: Request) -> str:
    """The simulator's own base URL, including the path it is mounted under (no trailing /)."""
    url = request.url
    return f"{url.scheme}://{url.netloc}{request.scope.get('root_path', '')}".rstrip("/")


def route_path(scope: Mapping[str, Any]) -> str:
    """The request path below the simulator's root (the prefix it is mounted under)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("", "/"):
        return path[len(root) :] or "/"
    return path


def twilio_error(status: int, code: int, message: str) -> JSONResponse:
    """Twilio's error body: ``{"code", "message", "more_info", "status"}``."""
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


def not_found(request: Request) -> JSONResponse:
    return twilio_error(
        404, 20404, f"The requested resource {route_path(request.scope)} was not found"
    )


def authenticate(
    request: Request, settings: SimulatorSettings, account_sid: str | None = None
) -> JSONResponse | None:
    """Check HTTP Basic credentials (and the path's AccountSid); an error response or None."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    user = password = ""
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(encoded.strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user = password = ""
    if not (
        hmac.compare_digest(user.encode(), settings.account_sid.encode())
        and hmac.compare_digest(password.encode(), settings.auth_token.encode())
    ):
        response = twilio_error(401, 20003, "Authenticate")
        response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
        return response
    if account_sid is not None and account_sid != settings.account_sid:
        return not_found(request)
    return None


async def read_form(request: Request) -> dict[str, str]:
    """The form-encoded body (first value of each field)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    form: dict[str, str] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        form.setdefault(key, value)
    return form


def message_uri(account_sid: str, sid: str, suffix: str = ".json") -> str:
    return f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}{suffix}"


def message_resource(message: Message) -> dict[str, Any]:
    """A Message resource, field for field as Twilio's 2010-04-01 API returns it."""
    return {
        "account_sid": message.account_sid,
        "api_version": API_VERSION,
        "body": message.body,
        "date_created": rfc2822(message.date_created),
        "date_sent": rfc2822(message.date_sent),
        "date_updated": rfc2822(message.date_updated),
        "direction": message.direction,
        "error_code": message.error_code,
        "error_message": message.error_message,
        "from": message.from_,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": str(message.num_segments),
        "price": None,
        "price_unit": "USD",
        "sid": message.sid,
        "status": message.status,
        "subresource_uris": {
            "media": message_uri(message.account_sid, message.sid, "/Media.json"),
            "feedback": message_uri(message.account_sid, message.sid, "/Feedback.json"),
        },
        "to": message.to,
        "uri": message_uri(message.account_sid, message.sid),
    }


def friendly_name(number: str) -> str:
    """Twilio's friendly name of a number: ``(415) 555-0100`` for North American numbers."""
    if number.startswith("+1") and len(number) == 12 and number[1:].isdecimal():
        return f"({number[2:5]}) {number[5:8]}-{number[8:]}"
    return number


def incoming_number_resource(sender: Sender, account_sid: str) -> dict[str, Any]:
    """An IncomingPhoneNumber resource (2010-04-01)."""
    return {
        "account_sid": account_sid,
        "address_requirements": "none",
        "address_sid": None,
        "api_version": API_VERSION,
        "beta": False,
        "bundle_sid": None,
        "capabilities": {
            "fax": False,
            "mms": sender.kind != "landline",
            "sms": True,
            "voice": sender.kind != "landline",
        },
        "date_created": rfc2822(sender.date_created),
        "date_updated": rfc2822(sender.date_updated),
        "emergency_address_sid": None,
        "emergency_address_status": "unregistered",
        "emergency_status": "Inactive",
        "friendly_name": friendly_name(sender.number),
        "identity_sid": None,
        "origin": "hosted" if sender.kind == "landline" else "twilio",
        "phone_number": sender.number,
        "sid": sender.sid,
        "sms_application_sid": "",
        "sms_fallback_method": "POST",
        "sms_fallback_url": "",
        "sms_method": "POST",
        "sms_url": "",
        "status": "in-use",
        "status_callback": "",
        "status_callback_method": "POST",
        "subresource_uris": {
            "assigned_add_ons": (
                f"/{API_VERSION}/Accounts/{account_sid}/IncomingPhoneNumbers/"
                f"{sender.sid}/AssignedAddOns.json"
            )
        },
        "trunk_sid": None,
        "uri": f"/{API_VERSION}/Accounts/{account_sid}/IncomingPhoneNumbers/{sender.sid}.json",
        "voice_application_sid": None,
        "voice_caller_id_lookup": False,
        "voice_fallback_method": "POST",
        "voice_fallback_url": None,
        "voice_method": "POST",
        "voice_receive_mode": "voice",
        "voice_url": None,
    }
