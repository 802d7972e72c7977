"""The Messages part of Twilio's 2010-04-01 REST API: create, fetch, list.

Requests are form-encoded, answers are JSON shaped like Twilio's, and every call needs HTTP
Basic ``AccountSid:AuthToken``. Twilio's magic test numbers are honoured: To +15005550001 is
invalid (21211), +15005550004 has unsubscribed (21610), +15005550009 is not a mobile (21614);
From +15005550001 is an invalid sender (21212) and +15005550006 a valid one.
"""

from __future__ import annotations

from datetime import date, datetime
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from clinictext.domain.segments import count_segments
from clinictext.simulator.callbacks import CallbackDispatcher
from clinictext.simulator.personas import delivery_outcome
from clinictext.simulator.resources import (
    API_VERSION,
    authenticate,
    message_resource,
    not_found,
    read_form,
    twilio_error,
)
from clinictext.simulator.settings import SimulatorSettings
from clinictext.simulator.state import E164, CarrierState, Message

INVALID_NUMBER = "+15005550001"
UNSUBSCRIBED_NUMBER = "+15005550004"
NOT_MOBILE_NUMBER = "+15005550009"
MAX_BODY = 1600
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def _parse_date_filter(value: str) -> date | None:
    """The day of a ``DateSent`` filter: ``YYYY-MM-DD``, or the date part of the
    ``YYYY-MM-DDTHH:MM:SSZ`` twilio-python sends for date and datetime arguments. Twilio's
    filter is by day, so the time is ignored. None if the value is not a date."""
    try:
        return date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


def _date_matches(sent: datetime | None, op: str, day: date) -> bool:
    """``DateSent`` (that day), ``DateSent<`` (on or before), ``DateSent>`` (on or after)."""
    if sent is None:
        return False
    if op == "=":
        return sent.date() == day
    return sent.date() <= day if op == "<" else sent.date() >= day


def _valid_callback_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class MessagesApi:
    """``/2010-04-01/Accounts/{AccountSid}/Messages[.json|/{Sid}.json]``."""

    def __init__(
        self, settings: SimulatorSettings, state: CarrierState, dispatcher: CallbackDispatcher
    ) -> None:
        self.settings = settings
        self.state = state
        self.dispatcher = dispatcher

    def routes(self) -> list[Route]:
        base = f"/{API_VERSION}/Accounts/{{account_sid}}"
        return [
            Route(f"{base}/Messages.json", self.create, methods=["POST"]),
            Route(f"{base}/Messages.json", self.list_messages, methods=["GET"]),
            Route(f"{base}/Messages/{{sid}}.json", self.fetch, methods=["GET"]),
        ]

    # -- create ------------------------------------------------------------------------------

    def _refusal(self, to: str, from_: str, body: str, callback: str) -> JSONResponse | None:
        """The 400 Twilio would answer for this request, or None if it is acceptable."""
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not from_:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return twilio_error(400, 21602, "Message body is required.")
        if from_ == INVALID_NUMBER:
            return twilio_error(
                400,
                21212,
                f"The 'From' number {from_} is not a valid phone number, shortcode, "
                "or alphanumeric sender ID.",
            )
        if E164.match(from_):
            self.state.ensure_sender(from_)
        if to == INVALID_NUMBER or not E164.match(to):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to == UNSUBSCRIBED_NUMBER or self.state.persona(to) == "carrier_opt_out":
            return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
        if to == NOT_MOBILE_NUMBER:
            return twilio_error(400, 21614, "'To' number is not a valid mobile number")
        if len(body) > MAX_BODY:
            return twilio_error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        if callback and not _valid_callback_url(callback):
            return twilio_error(
                400, 21609, f"The StatusCallback URL {callback} is not a valid URL."
            )
        sender = self.state.senders.get(from_)
        if sender is not None and sender.blocked:
            return twilio_error(400, 30032, "Toll-Free Number Has Not Been Verified")
        return None

    async def create(self, request: Request) -> Response:
        refused = authenticate(request, self.settings, request.path_params["account_sid"])
        if refused is not None:
            return refused
        form = await read_form(request)
        to = form.get("To", "").strip()
        from_ = form.get("From", "").strip()
        body = form.get("Body", "")
        callback = form.get("StatusCallback", "").strip()
        refused = self._refusal(to, from_, body, callback)
        if refused is not None:
            return refused
        final_status, error_code = delivery_outcome(self.state.persona(to), body)
        message = self.state.add_message(
            to=to,
            from_=from_,
            body=body,
            direction="outbound-api",
            status="queued",
            num_segments=count_segments(body).segments,
            status_callback=callback or None,
            final_status=final_status,
            planned_error=error_code,
        )
        self.dispatcher.start_lifecycle(message)
        return JSONResponse(message_resource(message), status_code=201)

    # -- fetch -------------------------------------------------------------------------------

    async def fetch(self, request: Request) -> Response:
        refused = authenticate(request, self.settings, request.path_params["account_sid"])
        if refused is not None:
            return refused
        message = self.state.messages.get(request.path_params["sid"])
        if message is None:
            return not_found(request)
        return JSONResponse(message_resource(message))

    # -- list --------------------------------------------------------------------------------

    async def list_messages(self, request: Request) -> Response:
        refused = authenticate(request, self.settings, request.path_params["account_sid"])
        if refused is not None:
            return refused
        query = request.query_params
        filters: dict[str, str] = {}
        for key in ("To", "From", "DateSent", "DateSent<", "DateSent>"):
            if query.get(key):
                filters[key] = query[key]
        date_bounds: list[tuple[str, date]] = []
        for key, op in (("DateSent", "="), ("DateSent<", "<"), ("DateSent>", ">")):
            if key in filters:
                bound = _parse_date_filter(filters[key])
                if bound is None:
                    return twilio_error(400, 20001, f"Invalid {key} value: {filters[key]}")
                date_bounds.append((op, bound))
        try:
            page_size = int(query.get("PageSize") or DEFAULT_PAGE_SIZE)
            page = int(query.get("Page") or 0)
        except ValueError:
            return twilio_error(400, 20001, "PageSize and Page must be integers")
        if not 1 <= page_size <= MAX_PAGE_SIZE or page < 0:
            return twilio_error(400, 20001, f"PageSize must be between 1 and {MAX_PAGE_SIZE}")

        def keep(message: Message) -> bool:
            if "To" in filters and message.to != filters["To"]:
                return False
            if "From" in filters and message.from_ != filters["From"]:
                return False
            return all(_date_matches(message.date_sent, op, b) for op, b in date_bounds)

        newest_first = [m for m in reversed(self.state.messages.values()) if keep(m)]
        start = self._page_start(newest_first, query.get("PageToken", ""), page, page_size)
        chunk = newest_first[start : start + page_size]
        path = f"/{API_VERSION}/Accounts/{self.settings.account_sid}/Messages.json"

        def page_uri(number: int, token: str | None = None) -> str:
            params = dict(filters)
            params.update({"PageSize": str(page_size), "Page": str(number)})
            if token:
                params["PageToken"] = token
            return f"{path}?{urlencode(params)}"

        has_next = start + page_size < len(newest_first)
        payload = {
            "end": start + len(chunk) - 1 if chunk else start,
            "first_page_uri": page_uri(0),
            "messages": [message_resource(m) for m in chunk],
            "next_page_uri": page_uri(page + 1, "PA" + chunk[-1].sid) if has_next else None,
            "page": page,
            "page_size": page_size,
            "previous_page_uri": (
                page_uri(page - 1, "PB" + chunk[0].sid) if page > 0 and chunk else None
            ),
            "start": start,
            "uri": f"{path}?{request.url.query}" if request.url.query else path,
        }
        return JSONResponse(payload)

    @staticmethod
    def _page_start(items: list[Message], token: str, page: int, page_size: int) -> int:
        """Where a page starts: after ``PA<sid>``, before ``PB<sid>``, else at Page*PageSize."""
        sids = [m.sid for m in items]
        anchor = token[2:]
        if anchor in sids:
            index = sids.index(anchor)
            if token.startswith("PA"):
                return index + 1
            if token.startswith("PB"):
                return max(0, index - page_size)
        return page * page_size
