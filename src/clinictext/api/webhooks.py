"""Provider webhooks: status callbacks and inbound texts, signed, idempotent, forward-only.

A webhook is verified and parsed here, on the event loop, then recorded by the process's
one webhook writer (``services.webhook_batch_writer``) together with the others that
arrived with it, and answered only once that transaction has committed. When the writer
cannot take it, the answer is 503 with Retry-After: the provider sends it again.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool

from clinictext.api.errors import RETRY_AFTER_SECONDS, error_response
from clinictext.config import Settings
from clinictext.providers.base import Provider
from clinictext.services import consent
from clinictext.services.webhook_batch import (
    InboundItem,
    Item,
    Outcome,
    StatusItem,
    apply_batch,
)
from clinictext.services.webhook_batch_writer import WebhookWriter, WriterBusy, WriterLimits

router = APIRouter(prefix="/webhooks/twilio", tags=["webhooks"], include_in_schema=True)
log = logging.getLogger("clinictext.webhooks")

_rng = random.Random()


def public_url_of(request: Request) -> str:
    """The URL the provider signed: our public address, the path and the query string."""
    base = request.app.state.settings.public_url.rstrip("/")
    query = request.url.query
    return f"{base}{request.url.path}" + (f"?{query}" if query else "")


_URLENCODED = "application/x-www-form-urlencoded"
MAX_FIELDS = 1000


async def _form(request: Request) -> dict[str, str]:
    """The posted fields. Providers post url-encoded forms: those are read here in one
    step, as Starlette's form parser would read them (Latin-1 bytes, %-escapes as UTF-8),
    without its streaming parser's per-field callbacks; anything else goes to it."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() == _URLENCODED:
        body = (await request.body()).decode("latin-1")
        return dict(parse_qsl(body, keep_blank_values=True, max_num_fields=MAX_FIELDS))
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _signed_form(request: Request) -> dict[str, str] | Response:
    provider: Provider = request.app.state.provider
    try:
        params = await _form(request)
    except Exception:  # a body that is not a form
        return error_response(400, "malformed_form", "The webhook body is not form-encoded.")
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
    outcome = await _record(request, StatusItem(report, mid))
    if isinstance(outcome, Response):
        return outcome
    return Response(status_code=204)


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
    outcome = await _record(request, InboundItem(text))
    if isinstance(outcome, Response):
        return outcome
    if outcome.unknown_number:
        log.warning("inbound text to a number no organization owns (sid %s)", text.provider_id)
    if outcome.settle is not None:
        # A STOP is answered once the texts handed over before it have been answered.
        org_id, phone = outcome.settle
        await run_in_threadpool(
            consent.settle_after_opt_out, request.app.state.read_session_factory, org_id, phone
        )
    body, media_type = provider.inbound_ack
    return Response(body, media_type=media_type)


async def _record(request: Request, item: Item) -> Outcome | Response:
    """``item``'s outcome once committed, or the 503 to answer when it was not written."""
    writer: WebhookWriter | None = getattr(request.app.state, "webhook_writer", None)
    try:
        if writer is not None:
            outcome = await writer.submit(item)
        else:  # an app run without its lifespan: the same work, one webhook at a time
            outcome = (await run_in_threadpool(_apply, request.app, [item]))[0]
    except WriterBusy as err:
        return _busy(str(err))
    except Exception:
        log.exception("a webhook could not be recorded; the provider will retry it")
        return _busy("The webhook could not be recorded.")
    if not outcome.ok:
        return _busy("The webhook could not be recorded.")
    return outcome


def _busy(why: str) -> Response:
    response = error_response(
        503, "webhook_not_recorded", f"{why} Nothing was recorded; send it again later."
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _apply(app: Any, items: list[Item]) -> list[Outcome]:
    return apply_batch(app.state.session_factory, items, app.state.retry_policy, _rng)


def writer_limits(settings: Settings) -> WriterLimits:
    """The writer's limits, from the settings."""
    return WriterLimits(
        max_batch=settings.webhook_batch_size,
        linger=settings.webhook_batch_linger_ms / 1000,
        max_queue=settings.webhook_queue_size,
    )


@asynccontextmanager
async def writer(app: FastAPI) -> AsyncIterator[WebhookWriter]:
    """The process's webhook writer, for the app's lifespan: started, and at shutdown
    left to record what is queued before it stops."""
    batch_writer = WebhookWriter(
        lambda items: _apply(app, list(items)), writer_limits(app.state.settings)
    )
    batch_writer.start()
    app.state.webhook_writer = batch_writer
    try:
        yield batch_writer
    finally:
        app.state.webhook_writer = None
        await batch_writer.stop()
