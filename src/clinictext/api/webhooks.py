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
    return signed_url(request.app.state.settings, request.url.path, request.url.query)


def signed_url(settings: Settings, path: str, query: str) -> str:
    base = settings.public_url.rstrip("/")
    return f"{base}{path}" + (f"?{query}" if query else "")


URLENCODED = "application/x-www-form-urlencoded"
MAX_FIELDS = 1000


def parse_urlencoded(body: bytes) -> dict[str, str]:
    """A url-encoded form read in one step, as Starlette's form parser would read it
    (Latin-1 bytes, %-escapes as UTF-8), without its streaming parser's per-field
    callbacks. Raises ``ValueError`` for more than ``MAX_FIELDS`` fields."""
    return dict(
        parse_qsl(body.decode("latin-1"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    )


async def _form(request: Request) -> dict[str, str]:
    """The posted fields. Providers post url-encoded forms; anything else goes to
    Starlette's form parser."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() == URLENCODED:
        return parse_urlencoded(await request.body())
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def malformed_form() -> Response:
    return error_response(400, "malformed_form", "The webhook body is not form-encoded.")


async def _parts(request: Request) -> tuple[str, str, dict[str, str]] | Response:
    """The signed URL, the signature and the fields of a webhook request."""
    try:
        params = await _form(request)
    except Exception:  # a body that is not a form
        return malformed_form()
    header = request.app.state.provider.signature_header
    return public_url_of(request), request.headers.get(header, ""), params


def _refused_signature(
    provider: Provider, url: str, params: dict[str, str], signature: str
) -> Response | None:
    if provider.verify_signature(url, params, signature):
        return None
    log.warning("webhook with a missing or wrong signature refused: %s", url.split("?", 1)[0])
    return error_response(
        403,
        "invalid_signature",
        "The X-Twilio-Signature header is missing or does not match. Check that "
        "CLINICTEXT_PUBLIC_URL is the address the provider posts to.",
    )


@router.post("/status", status_code=204)
async def status_callback(request: Request) -> Response:
    """A status callback: applied once, forward only; one for an unknown text is parked."""
    parts = await _parts(request)
    if isinstance(parts, Response):
        return parts
    url, signature, params = parts
    return await answer_status(
        request.app, url, signature, params, request.query_params.get("mid", "")
    )


@router.post("/sms")
async def inbound_text(request: Request) -> Response:
    """A patient's text: stored once per provider id, with its commlog; answers TwiML."""
    parts = await _parts(request)
    if isinstance(parts, Response):
        return parts
    url, signature, params = parts
    return await answer_inbound(request.app, url, signature, params)


async def answer_status(
    app: Any, url: str, signature: str, params: dict[str, str], mid_raw: str
) -> Response:
    """The answer to a status callback whose fields were read (also ``webhook_fastpath``)."""
    provider: Provider = app.state.provider
    refused = _refused_signature(provider, url, params, signature)
    if refused is not None:
        return refused
    try:
        report = provider.parse_status(params)
    except ValueError as err:
        return error_response(
            400, "malformed_callback", f"The status callback is incomplete: {err}."
        )
    mid = int(mid_raw) if mid_raw.isdecimal() and len(mid_raw) < 19 else None
    outcome = await _record(app, StatusItem(report, mid))
    if isinstance(outcome, Response):
        return outcome
    return Response(status_code=204)


async def answer_inbound(app: Any, url: str, signature: str, params: dict[str, str]) -> Response:
    """The answer to an inbound text whose fields were read (also ``webhook_fastpath``)."""
    provider: Provider = app.state.provider
    refused = _refused_signature(provider, url, params, signature)
    if refused is not None:
        return refused
    try:
        text = provider.parse_inbound(params)
    except ValueError as err:
        return error_response(400, "malformed_inbound", f"The inbound text is incomplete: {err}.")
    outcome = await _record(app, InboundItem(text))
    if isinstance(outcome, Response):
        return outcome
    if outcome.unknown_number:
        log.warning("inbound text to a number no organization owns (sid %s)", text.provider_id)
    if outcome.settle is not None:
        # A STOP is answered once the texts handed over before it have been answered.
        org_id, phone = outcome.settle
        await run_in_threadpool(
            consent.settle_after_opt_out, app.state.read_session_factory, org_id, phone
        )
    body, media_type = provider.inbound_ack
    return Response(body, media_type=media_type)


async def _record(app: Any, item: Item) -> Outcome | Response:
    """``item``'s outcome once committed, or the 503 to answer when it was not written."""
    writer: WebhookWriter | None = getattr(app.state, "webhook_writer", None)
    try:
        if writer is not None:
            outcome = await writer.submit(item)
        else:  # an app run without its lifespan: the same work, one webhook at a time
            outcome = (await run_in_threadpool(_apply, app, [item]))[0]
    except WriterBusy as err:
        return busy(str(err))
    except Exception:
        log.exception("a webhook could not be recorded; the provider will retry it")
        return busy("The webhook could not be recorded.")
    if not outcome.ok:
        return busy("The webhook could not be recorded.")
    return outcome


def busy(why: str) -> Response:
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
