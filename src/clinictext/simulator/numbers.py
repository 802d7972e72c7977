"""Sender lookups: IncomingPhoneNumbers (2010-04-01), Tollfree Verifications (messaging v1)
and Hosted Number Orders (numbers v2, hosted SMS on landlines).

Every number the simulator has seen as a From, or that was registered with
``/_control/senders`` or ``/_control/verify``, is an IncomingPhoneNumber. A toll-free number
has one Tollfree Verification, a landline one Hosted Number Order; both start pending and
follow ``/_control/verify``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from clinictext.simulator.resources import (
    API_VERSION,
    authenticate,
    base_url,
    friendly_name,
    incoming_number_resource,
    iso8601,
    not_found,
    route_path,
    twilio_error,
)
from clinictext.simulator.settings import SimulatorSettings
from clinictext.simulator.state import CarrierState, Sender

TOLLFREE_STATUS = {
    "pending": "PENDING_REVIEW",
    "verified": "TWILIO_APPROVED",
    "failed": "TWILIO_REJECTED",
}
HOSTED_STATUS = {"pending": "pending-verification", "verified": "completed", "failed": "failed"}


def _paging(request: Request) -> tuple[int, int] | JSONResponse:
    try:
        page_size = int(request.query_params.get("PageSize") or 50)
        page = int(request.query_params.get("Page") or 0)
    except ValueError:
        return twilio_error(400, 20001, "PageSize and Page must be integers")
    if not 1 <= page_size <= 1000 or page < 0:
        return twilio_error(400, 20001, "PageSize must be between 1 and 1000")
    return page, page_size


class NumbersApi:
    """The three sender lookups, each a list and a fetch."""

    def __init__(self, settings: SimulatorSettings, state: CarrierState) -> None:
        self.settings = settings
        self.state = state

    def routes(self) -> list[Route]:
        numbers = f"/{API_VERSION}/Accounts/{{account_sid}}/IncomingPhoneNumbers"
        return [
            Route(f"{numbers}.json", self.list_numbers, methods=["GET"]),
            Route(f"{numbers}/{{sid}}.json", self.fetch_number, methods=["GET"]),
            Route("/v1/Tollfree/Verifications", self.list_tollfree, methods=["GET"]),
            Route("/v1/Tollfree/Verifications/{sid}", self.fetch_tollfree, methods=["GET"]),
            Route("/v2/HostedNumber/Orders", self.list_hosted, methods=["GET"]),
            Route("/v2/HostedNumber/Orders/{sid}", self.fetch_hosted, methods=["GET"]),
        ]

    # -- IncomingPhoneNumbers ----------------------------------------------------------------

    async def list_numbers(self, request: Request) -> Response:
        refused = authenticate(request, self.settings, request.path_params["account_sid"])
        if refused is not None:
            return refused
        paging = _paging(request)
        if isinstance(paging, JSONResponse):
            return paging
        page, page_size = paging
        wanted = request.query_params.get("PhoneNumber", "").strip().lstrip("+")
        senders = [s for s in self.state.senders.values() if wanted in s.number]
        start = page * page_size
        chunk = senders[start : start + page_size]
        path = f"/{API_VERSION}/Accounts/{self.settings.account_sid}/IncomingPhoneNumbers.json"
        filters = {"PhoneNumber": request.query_params["PhoneNumber"]} if wanted else {}

        def page_uri(number: int) -> str:
            return f"{path}?{urlencode({**filters, 'PageSize': page_size, 'Page': number})}"

        return JSONResponse(
            {
                "end": start + len(chunk) - 1 if chunk else start,
                "first_page_uri": page_uri(0),
                "incoming_phone_numbers": [
                    incoming_number_resource(s, self.settings.account_sid) for s in chunk
                ],
                "next_page_uri": page_uri(page + 1) if start + page_size < len(senders) else None,
                "page": page,
                "page_size": page_size,
                "previous_page_uri": page_uri(page - 1) if page > 0 else None,
                "start": start,
                "uri": page_uri(page),
            }
        )

    async def fetch_number(self, request: Request) -> Response:
        refused = authenticate(request, self.settings, request.path_params["account_sid"])
        if refused is not None:
            return refused
        for sender in self.state.senders.values():
            if sender.sid == request.path_params["sid"]:
                return JSONResponse(incoming_number_resource(sender, self.settings.account_sid))
        return not_found(request)

    # -- Tollfree Verifications and Hosted Number Orders --------------------------------------

    def _tollfree(self, sender: Sender, base: str) -> dict[str, Any]:
        assert sender.verification is not None
        sid = self.state.number_sid("HH", sender.number)
        status = TOLLFREE_STATUS[sender.verification]
        return {
            "sid": sid,
            "account_sid": self.settings.account_sid,
            "customer_profile_sid": None,
            "trust_product_sid": None,
            "regulated_item_sid": None,
            "date_created": iso8601(sender.date_created),
            "date_updated": iso8601(sender.date_updated),
            "business_name": None,
            "tollfree_phone_number_sid": sender.sid,
            "tollfree_phone_number": sender.number,
            "status": status,
            "url": f"{base}/v1/Tollfree/Verifications/{sid}",
            "rejection_reason": "Rejected in the simulator"
            if status == "TWILIO_REJECTED"
            else None,
            "error_code": None,
            "edit_expiration": None,
            "edit_allowed": status == "TWILIO_REJECTED",
            "resource_links": {},
            "external_reference_id": None,
        }

    def _hosted(self, sender: Sender, base: str) -> dict[str, Any]:
        assert sender.verification is not None
        sid = self.state.number_sid("HR", sender.number)
        status = HOSTED_STATUS[sender.verification]
        return {
            "sid": sid,
            "account_sid": self.settings.account_sid,
            "incoming_phone_number_sid": sender.sid,
            "address_sid": None,
            "signing_document_sid": None,
            "phone_number": sender.number,
            "capabilities": {"sms": True, "voice": False},
            "friendly_name": friendly_name(sender.number),
            "status": status,
            "failure_reason": "Rejected in the simulator" if status == "failed" else None,
            "date_created": iso8601(sender.date_created),
            "date_updated": iso8601(sender.date_updated),
            "email": None,
            "cc_emails": [],
            "url": f"{base}/v2/HostedNumber/Orders/{sid}",
            "contact_title": None,
            "contact_phone_number": None,
            "bulk_hosting_request_sid": None,
            "next_step": None,
            "verification_attempts": 0,
            "verification_call_sids": None,
            "verification_call_delay": 0,
            "verification_call_extension": None,
            "verification_code": None,
            "verification_type": None,
        }

    def _list_v1v2(
        self,
        request: Request,
        key: str,
        kind: str,
        render: Callable[[Sender, str], dict[str, Any]],
        match: Callable[[Sender, dict[str, Any]], bool],
    ) -> Response:
        refused = authenticate(request, self.settings)
        if refused is not None:
            return refused
        paging = _paging(request)
        if isinstance(paging, JSONResponse):
            return paging
        page, page_size = paging
        base = base_url(request)
        rows = [
            row
            for sender in self.state.senders.values()
            if sender.kind == kind and sender.verification is not None
            for row in [render(sender, base)]
            if match(sender, row)
        ]
        start = page * page_size
        chunk = rows[start : start + page_size]
        filters = {
            k: v
            for k, v in request.query_params.items()
            if k not in ("Page", "PageSize", "PageToken")
        }
        url = base + route_path(request.scope)

        def page_url(number: int) -> str:
            return f"{url}?{urlencode({**filters, 'PageSize': page_size, 'Page': number})}"

        return JSONResponse(
            {
                key: chunk,
                "meta": {
                    "page": page,
                    "page_size": page_size,
                    "first_page_url": page_url(0),
                    "previous_page_url": page_url(page - 1) if page > 0 else None,
                    "url": page_url(page),
                    "next_page_url": page_url(page + 1) if start + page_size < len(rows) else None,
                    "key": key,
                },
            }
        )

    async def list_tollfree(self, request: Request) -> Response:
        query = request.query_params

        def match(sender: Sender, row: dict[str, Any]) -> bool:
            wanted_sid = query.get("TollfreePhoneNumberSid")
            wanted_status = query.get("Status")
            return (not wanted_sid or sender.sid == wanted_sid) and (
                not wanted_status or row["status"] == wanted_status
            )

        return self._list_v1v2(request, "verifications", "toll_free", self._tollfree, match)

    async def list_hosted(self, request: Request) -> Response:
        query = request.query_params

        def match(sender: Sender, row: dict[str, Any]) -> bool:
            wanted_number = query.get("PhoneNumber")
            wanted_sid = query.get("IncomingPhoneNumberSid")
            wanted_status = query.get("Status")
            return (
                (not wanted_number or sender.number == wanted_number)
                and (not wanted_sid or sender.sid == wanted_sid)
                and (not wanted_status or row["status"] == wanted_status)
            )

        return self._list_v1v2(request, "items", "landline", self._hosted, match)

    def _fetch_v1v2(
        self, request: Request, kind: str, render: Callable[[Sender, str], dict[str, Any]]
    ) -> Response:
        refused = authenticate(request, self.settings)
        if refused is not None:
            return refused
        base = base_url(request)
        for sender in self.state.senders.values():
            if sender.kind == kind and sender.verification is not None:
                row = render(sender, base)
                if row["sid"] == request.path_params["sid"]:
                    return JSONResponse(row)
        return not_found(request)

    async def fetch_tollfree(self, request: Request) -> Response:
        return self._fetch_v1v2(request, "toll_free", self._tollfree)

    async def fetch_hosted(self, request: Request) -> Response:
        return self._fetch_v1v2(request, "landline", self._hosted)
