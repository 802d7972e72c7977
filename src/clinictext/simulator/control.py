"""The control API (``/_control/...``): steer the simulated carrier from tests and demos.

Errors answer 400/404 with ``{"error": {"code", "message"}}``. The control API is not
authenticated, so it answers only clients on this machine unless told otherwise (403 to the
rest; see ``access``), and is never affected by a simulated outage.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from clinictext.domain.segments import count_segments
from clinictext.simulator.callbacks import CallbackDispatcher
from clinictext.simulator.personas import PERSONAS
from clinictext.simulator.resources import API_VERSION
from clinictext.simulator.settings import SimulatorSettings
from clinictext.simulator.state import (
    E164,
    OUTAGE_FAILURES,
    OUTAGE_MODES,
    SENDER_KINDS,
    CarrierState,
    Chaos,
    Message,
    Outage,
    Sender,
)


class ControlError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ControlError(400, "invalid_json", f"The body is not valid JSON: {exc}.") from exc
    if not isinstance(data, dict):
        raise ControlError(400, "invalid_json", "The body must be a JSON object.")
    return data


def _number(value: object, field: str) -> str:
    if not isinstance(value, str) or not E164.match(value.strip()):
        raise ControlError(
            400, "invalid_number", f"'{field}' must be an E.164 number such as +14155550100."
        )
    return value.strip()


def _choice(value: object, field: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(choices)
        raise ControlError(400, f"invalid_{field}", f"'{field}' must be one of: {allowed}.")
    return value


def _int(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ControlError(
            400, f"invalid_{field}", f"'{field}' must be a whole number from {low} to {high}."
        )
    return value


def _sender_json(sender: Sender) -> dict[str, Any]:
    return {
        "number": sender.number,
        "sid": sender.sid,
        "kind": sender.kind,
        "verification": sender.verification,
    }


def _message_json(message: Message) -> dict[str, Any]:
    return {
        "sid": message.sid,
        "to": message.to,
        "from": message.from_,
        "body": message.body,
        "status": message.status,
        "error_code": message.error_code,
        "direction": message.direction,
        "at": message.date_created.isoformat(),
    }


def _chaos_json(chaos: Chaos, settings: SimulatorSettings) -> dict[str, Any]:
    return {
        "duplicate_callbacks": chaos.duplicate_callbacks,
        "reorder": chaos.reorder,
        "callback_delay_ms": list(chaos.callback_delay_ms or settings.callback_delay_ms),
    }


def _outage_json(outage: Outage) -> dict[str, Any]:
    return {"mode": outage.mode, "failure": outage.failure, "delay_ms": outage.delay_ms}


class ControlApi:
    def __init__(
        self, settings: SimulatorSettings, state: CarrierState, dispatcher: CallbackDispatcher
    ) -> None:
        self.settings = settings
        self.state = state
        self.dispatcher = dispatcher

    def routes(self) -> list[Route]:
        def route(path: str, endpoint: Any, methods: list[str]) -> Route:
            return Route("/_control" + path, self._guard(endpoint), methods=methods)

        return [
            route("/inbound", self.inbound, ["POST"]),
            route("/numbers/{number}", self.get_persona, ["GET"]),
            route("/numbers/{number}", self.set_persona, ["POST"]),
            route("/outage", self.get_outage, ["GET"]),
            route("/outage", self.set_outage, ["POST"]),
            route("/chaos", self.get_chaos, ["GET"]),
            route("/chaos", self.set_chaos, ["POST"]),
            route("/verify", self.verify, ["POST"]),
            route("/senders/{number}", self.register_sender, ["POST"]),
            route("/messages", self.messages, ["GET"]),
            route("/callbacks", self.callbacks, ["GET"]),
            route("/reset", self.reset, ["POST"]),
        ]

    @staticmethod
    def _guard(endpoint: Any) -> Any:
        async def guarded(request: Request) -> Response:
            try:
                response: Response = await endpoint(request)
            except ControlError as err:
                return error_response(err.status, err.code, err.message)
            return response

        return guarded

    # -- patients texting in -----------------------------------------------------------------

    async def inbound(self, request: Request) -> Response:
        data = await _json_object(request)
        from_ = _number(data.get("from"), "from")
        to = _number(data.get("to"), "to")
        body = data.get("body", "")
        if not isinstance(body, str):
            raise ControlError(400, "invalid_body", "'body' must be a string.")
        url = data.get("url") or self.state.inbound_webhook_url
        if not url:
            raise ControlError(
                400,
                "no_inbound_webhook",
                "No inbound webhook URL is configured: start the simulator with "
                'inbound_webhook_url (clinictext\'s /webhooks/twilio/sms) or pass "url".',
            )
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise ControlError(400, "invalid_url", "'url' must be an http(s) URL.")
        segments = count_segments(body).segments
        message = self.state.add_message(
            to=to,
            from_=from_,
            body=body,
            direction="inbound",
            status="received",
            num_segments=segments,
        )
        params = {
            "ToCountry": "US" if to.startswith("+1") else "",
            "SmsMessageSid": message.sid,
            "NumMedia": "0",
            "SmsSid": message.sid,
            "SmsStatus": "received",
            "Body": body,
            "FromCountry": "US" if from_.startswith("+1") else "",
            "To": to,
            "NumSegments": str(segments),
            "MessageSid": message.sid,
            "AccountSid": self.settings.account_sid,
            "From": from_,
            "ApiVersion": API_VERSION,
        }
        try:
            status, text = await self.dispatcher.send_inbound(url, params)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return error_response(
                502, "webhook_unreachable", f"The inbound webhook {url} could not be reached: {exc}"
            )
        return JSONResponse({"sid": message.sid, "status": status, "response": text})

    # -- personas ----------------------------------------------------------------------------

    async def get_persona(self, request: Request) -> Response:
        number = _number(request.path_params["number"], "number")
        return JSONResponse({"number": number, "persona": self.state.persona(number)})

    async def set_persona(self, request: Request) -> Response:
        number = _number(request.path_params["number"], "number")
        data = await _json_object(request)
        persona = _choice(data.get("persona", "ok"), "persona", PERSONAS)
        self.state.personas[number] = persona
        return JSONResponse({"number": number, "persona": persona})

    # -- outage and chaos --------------------------------------------------------------------

    async def get_outage(self, request: Request) -> Response:
        return JSONResponse(_outage_json(self.state.outage))

    async def set_outage(self, request: Request) -> Response:
        data = await _json_object(request)
        mode = _choice(data.get("mode"), "mode", OUTAGE_MODES)
        raw_failure = data.get("failure", "503")
        if isinstance(raw_failure, int) and not isinstance(raw_failure, bool):
            raw_failure = str(raw_failure)
        failure = _choice(raw_failure, "failure", OUTAGE_FAILURES)
        delay_ms = _int(data.get("delay_ms", 2000), "delay_ms", 0, 600_000)
        self.state.set_outage(Outage(mode=mode, failure=failure, delay_ms=delay_ms))
        return JSONResponse(_outage_json(self.state.outage))

    async def get_chaos(self, request: Request) -> Response:
        return JSONResponse(_chaos_json(self.state.chaos, self.settings))

    async def set_chaos(self, request: Request) -> Response:
        """Change the given settings; the others keep their current values."""
        data = await _json_object(request)
        chaos = self.state.chaos
        duplicates = chaos.duplicate_callbacks
        if "duplicate_callbacks" in data:
            duplicates = _int(data["duplicate_callbacks"], "duplicate_callbacks", 0, 5)
        reorder = chaos.reorder
        if "reorder" in data:
            if not isinstance(data["reorder"], bool):
                raise ControlError(400, "invalid_reorder", "'reorder' must be true or false.")
            reorder = data["reorder"]
        delay = chaos.callback_delay_ms
        if "callback_delay_ms" in data:
            value = data["callback_delay_ms"]
            if value is None:
                delay = None
            else:
                if not isinstance(value, list | tuple) or len(value) != 2:
                    raise ControlError(
                        400, "invalid_callback_delay_ms", "'callback_delay_ms' must be [min, max]."
                    )
                low = _int(value[0], "callback_delay_ms", 0, 600_000)
                high = _int(value[1], "callback_delay_ms", low, 600_000)
                delay = (low, high)
        self.state.chaos = Chaos(duplicates, reorder, delay)
        return JSONResponse(_chaos_json(self.state.chaos, self.settings))

    # -- senders -----------------------------------------------------------------------------

    def _kind(self, data: dict[str, Any]) -> str | None:
        kind = data.get("kind")
        return None if kind is None else _choice(kind, "kind", SENDER_KINDS)

    async def verify(self, request: Request) -> Response:
        data = await _json_object(request)
        number = _number(data.get("number"), "number")
        result = _choice(data.get("result", "verified"), "result", ("verified", "failed"))
        sender = self.state.verify_sender(number, result, self._kind(data))
        return JSONResponse(_sender_json(sender))

    async def register_sender(self, request: Request) -> Response:
        number = _number(request.path_params["number"], "number")
        data = await _json_object(request)
        sender = self.state.register_sender(number, self._kind(data))
        return JSONResponse(_sender_json(sender))

    # -- inspection and reset ----------------------------------------------------------------

    async def messages(self, request: Request) -> Response:
        to = request.query_params.get("to")
        direction = request.query_params.get("direction")
        rows = [
            _message_json(m)
            for m in self.state.messages.values()
            if (not to or m.to == to) and (not direction or m.direction == direction)
        ]
        return JSONResponse(rows)

    async def callbacks(self, request: Request) -> Response:
        sid = request.query_params.get("sid")
        return JSONResponse(
            [
                {
                    "sid": c.sid,
                    "url": c.url,
                    "status": c.status,
                    "http_status": c.http_status,
                    "at": c.at.isoformat(),
                    "attempt": c.attempt,
                    "copy": c.copy,
                    "error": c.error,
                }
                for c in self.state.callback_log(sid)
            ]
        )

    async def reset(self, request: Request) -> Response:
        await self.dispatcher.cancel_all()
        self.state.reset()
        return JSONResponse({"reset": True})
