"""Provider webhooks: status callbacks and inbound texts, signed, idempotent, forward-only."""

from __future__ import annotations

import logging
import random

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError

from clinictext.api.errors import error_response
from clinictext.providers.base import InboundText, Provider, StatusReport
from clinictext.services import consent, inbound, status_updates
from clinictext.services.clock import utcnow
from clinictext.store.db import transaction

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"], include_in_schema=True)
log = logging.getLogger("clinictext.webhooks")

_rng = random.Random()


def public_url_of(request: Request) -> str:
    """The URL the provider signed: our public address, the path and the query string."""
    base = request.app.state.settings.public_url.rstrip("/")
    query = request.url.query
    return f"{base}{request.url.path}" + (f"?{query}" if query else "")


async def _signed_form(request: Request) -> dict[str, str] | Response:
    provider: Provider = request.app.state.provider
    try:
        form = await request.form()
    except Exception:  # a body that is not a form
        return error_response(400, "malformed_form", "The webhook body is not form-encoded.")
    params = {k: v for k, v in form.items() if isinstance(v, str)}
    signature = request.headers.get(provider.signature_header, "")
    if not provider.verify_signature(public_url_of(request), params, signature):
        log.warning("webhook with a missing or wrong signature refused: %s", request.url.path)
        return error_response(
            403,
            "invalid_signature",
            "The X-Twilio-Signature header is missing or does not match. Check that "
            "CLINICTEXT_PUBLIC_URL is the address the provider posts to.",
        )
    return params


@router.post("/status", status_code=204)
async def status_callback(request: Request) -> Response:
    """A status callback: applied once, forward only; one for an unknown text is parked."""
    params = await _signed_form(request)
    if isinstance(params, Response):
        return params
    provider: Provider = request.app.state.provider
    try:
        report = provider.parse_status(params)
    except ValueError as err:
        return error_response(
            400, "malformed_callback", f"The status callback is incomplete: {err}."
        )
    mid_raw = request.query_params.get("mid", "")
    mid = int(mid_raw) if mid_raw.isdecimal() and len(mid_raw) < 19 else None
    await run_in_threadpool(_apply_status, request, report, mid)
    return Response(status_code=204)


def _apply_status(request: Request, report: StatusReport, mid: int | None) -> None:
    with transaction(request.app.state.session_factory) as session:
        status_updates.receive_callback(
            session, report, mid, utcnow(), request.app.state.retry_policy, _rng
        )


@router.post("/sms")
async def inbound_text(request: Request) -> Response:
    """A patient's text: stored once per provider id, with its commlog; answers TwiML."""
    params = await _signed_form(request)
    if isinstance(params, Response):
        return params
    provider: Provider = request.app.state.provider
    try:
        text = provider.parse_inbound(params)
    except ValueError as err:
        return error_response(400, "malformed_inbound", f"The inbound text is incomplete: {err}.")
    await run_in_threadpool(_receive, request, text)
    body, media_type = provider.inbound_ack
    return Response(body, media_type=media_type)


def _receive(request: Request, text: InboundText) -> None:
    try:
        with transaction(request.app.state.session_factory) as session:
            received = inbound.receive(session, text, utcnow())
    except IntegrityError:
        return  # the same text delivered twice at once: the other request stored it
    if received.message is None:
        log.warning("inbound text to a number no organization owns (sid %s)", text.provider_id)
        return
    if not received.duplicate:
        # A STOP is answered once the texts handed over before it have been answered.
        consent.settle_after_opt_out(
            request.app.state.read_session_factory,
            received.message.organization_id,
            received.message.from_phone,
        )
