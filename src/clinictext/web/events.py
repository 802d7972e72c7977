"""Live updates: a server-sent event stream per open page, and the small fragments that
every page re-fetches when told (the unread count, the connector banner).

The stream reads from the database, not from one process's memory: once a second it takes
a fingerprint of each topic (a few indexed aggregates) and names the topics that changed.
So a text delivered through one ``serve`` replica, a reply received by another or a status
written by a separate worker all reach every open page, whichever replica holds the stream.
The pages then fetch their changed parts with htmx (``hx-trigger="sse:<topic>"``).

Topics: ``inbox`` (unread counts, new messages), ``leads`` (stages), ``connector`` (state,
errors, pending), ``conversation`` (one patient: messages, statuses, consent, lead, review).
The stream ends when the sign-in ends (signed out, disabled, idle), and it does not count
as activity for the idle timeout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clinictext.services import connector
from clinictext.services.clock import utcnow
from clinictext.services.web_sessions import lookup
from clinictext.store.models import (
    ConnectorError,
    ConsentEventRow,
    Lead,
    Message,
    MessageEvent,
    Patient,
)
from clinictext.web.access import SESSION_COOKIE, Staff, StaffPage, idle_timeout
from clinictext.web.render import html

router = APIRouter(include_in_schema=False)

POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 15.0


def fingerprints(session: Session, org_id: int, patient_id: int | None) -> dict[str, Any]:
    """A value per topic that changes whenever what the topic's screens show changes."""
    now = utcnow()
    # An edit of a patient (an assignment, a review resolved) and a status change (a text
    # turning Failed) change what the inbox shows without a new message.
    unread, reviews, patients_changed = session.execute(
        select(
            func.coalesce(func.sum(Patient.unread_count), 0),
            func.count(Patient.review_flag),
            func.max(Patient.updated_at),
        ).where(Patient.organization_id == org_id)
    ).one()
    newest = session.scalar(select(func.max(Message.id)).where(Message.organization_id == org_id))
    latest_status = session.scalar(
        select(func.max(MessageEvent.id)).where(MessageEvent.organization_id == org_id)
    )
    leads = session.execute(
        select(func.max(Lead.updated_at), func.count()).where(Lead.organization_id == org_id)
    ).one()
    errors = session.execute(
        select(func.max(ConnectorError.last_at), func.count(ConnectorError.acknowledged_at)).where(
            ConnectorError.organization_id == org_id
        )
    ).one()
    status = connector.status(session, org_id, now)
    topics: dict[str, Any] = {
        "inbox": (int(unread), int(reviews), newest, latest_status, str(patients_changed)),
        "leads": (str(leads[0]), leads[1], newest),
        "connector": (status.view.state, status.pending, str(errors[0]), errors[1]),
    }
    if patient_id is not None:
        patient = session.get(Patient, patient_id)
        if patient is not None and patient.organization_id == org_id:
            topics["conversation"] = _conversation(session, patient)
    return topics


def _conversation(session: Session, patient: Patient) -> tuple[Any, ...]:
    message_ids = select(Message.id).where(
        Message.organization_id == patient.organization_id, Message.patient_id == patient.id
    )
    latest_event = session.scalar(
        select(func.max(MessageEvent.id)).where(MessageEvent.message_id.in_(message_ids))
    )
    latest_consent = session.scalar(
        select(func.max(ConsentEventRow.id)).where(
            ConsentEventRow.organization_id == patient.organization_id,
            ConsentEventRow.phone == (patient.phone or ""),
        )
    )
    lead = session.scalar(select(Lead.updated_at).where(Lead.patient_id == patient.id))
    return (
        latest_event,
        latest_consent,
        str(lead),
        patient.review_flag,
        patient.phone,
        patient.unread_count,
        str(patient.updated_at),
    )


def _snapshot(request: Request, token: str, patient_id: int | None) -> dict[str, Any] | None:
    """The fingerprints, or None when the sign-in behind ``token`` has ended."""
    with request.app.state.read_session_factory() as session, session.begin():
        signed_in = lookup(session, token, utcnow(), idle_timeout(request))
        if signed_in is None:
            return None
        return fingerprints(session, signed_in.org_id, patient_id)


def _event(name: str, data: str = "") -> str:
    return f"event: {name}\ndata: {data}\n\n"


@router.get("/events", response_model=None)
async def stream(
    request: Request,
    signed_in: Staff,
    patient: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> Response:
    """The event stream of one open page (``patient``: the conversation it shows)."""
    token = request.cookies.get(SESSION_COOKIE, "")

    async def events() -> AsyncIterator[str]:
        yield "retry: 3000\n\n"
        last: dict[str, Any] | None = None
        quiet = 0.0
        while True:
            snapshot = await run_in_threadpool(_snapshot, request, token, patient)
            if snapshot is None:
                yield _event("signed_out")
                return
            if last is not None:
                for topic, value in snapshot.items():
                    if last.get(topic) != value:
                        yield _event(topic)
                        quiet = 0.0
            last = snapshot
            await anyio.sleep(POLL_SECONDS)
            quiet += POLL_SECONDS
            if quiet >= HEARTBEAT_SECONDS:
                yield ": still here\n\n"  # keeps proxies from closing an idle stream
                quiet = 0.0

    del signed_in  # checked by the dependency; the loop re-checks the token each second
    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/ui/unread", response_class=HTMLResponse)
def unread_badge(request: Request, signed_in: StaffPage) -> HTMLResponse:
    return html(request, "_unread_badge.html")


@router.get("/ui/connector-banner", response_class=HTMLResponse)
def connector_banner(request: Request, signed_in: StaffPage) -> HTMLResponse:
    return html(request, "_connector_banner.html")
