"""The patient page, ``/patients/{id}``: the conversation and the patient side by side.

This module answers the page, its parts' refreshes, a text's history, reading the
conversation and the review of a flagged reply; ``patient_panel`` answers the side panel's
forms (details, consent, lead stage, commlogs, merging an unknown sender). Both draw with
``patient_parts``. Every change goes through the services the API uses, with the signed-in
user as the actor.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from clinictext.api.deps import SessionDep
from clinictext.api.schemas import MAX_ID
from clinictext.services import conversation_view, patients, review
from clinictext.services.clock import utcnow
from clinictext.services.errors import NotFound, ServiceError
from clinictext.web.access import Staff, StaffPage
from clinictext.web.forms import FORM_ERROR, refusal
from clinictext.web.pages.patient_parts import (
    PARTS,
    SHOWN_MAX,
    PatientId,
    fingerprint,
    full_name,
    live,
    org_timezone,
    part_html,
    render,
    section,
    wrap_part,
)
from clinictext.web.render import html

router = APIRouter(include_in_schema=False)


# --- a part, fresh ----------------------------------------------------------------------


@router.get("/patients/{patient_id}/live/{part}", response_model=None)
def live_part(
    user: Staff,
    session: SessionDep,
    patient_id: PatientId,
    part: Annotated[str, Path(max_length=20)],
    seen: Annotated[str, Query(max_length=40)] = "",
    show: Annotated[int | None, Query(ge=1, le=SHOWN_MAX)] = None,
) -> Response:
    """A part of the page, fresh; 204 when it would show what the page already shows."""
    patient = patients.get_patient(session, user.org_id, patient_id)
    if part not in PARTS:
        raise NotFound(f"The patient page has no part '{part}'.")
    tz = org_timezone(session, user.org_id)
    inner = part_html(session, user.org_id, patient, part, tz, error=None, show=show)
    if seen and seen == fingerprint(inner):
        return Response(status_code=204)
    return HTMLResponse(wrap_part(patient, part, inner, show, oob=False))


# --- the page -----------------------------------------------------------------------------


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(
    request: Request, user: StaffPage, session: SessionDep, patient_id: PatientId
) -> HTMLResponse:
    """The conversation, the composer and the patient's details, consent, lead and commlogs."""
    from clinictext.web.pages.composer import composer_html

    org_id = user.org_id
    patient = patients.get_patient(session, org_id, patient_id)
    tz = org_timezone(session, org_id)
    channel = conversation_view.default_channel(session, org_id, patient.id)
    parts = {
        part: live(session, org_id, patient, part, tz=tz)
        for part in ("header", "review", "conversation", "commlogs")
    }
    sections = {
        name: section(session, org_id, patient, name, tz=tz)
        for name in ("details", "consent", "lead")
    }
    return html(
        request,
        "patient.html",
        {
            "active": "inbox",
            "patient": patient,
            "name": full_name(patient),
            "parts": parts,
            "sections": sections,
            "composer": composer_html(session, org_id, patient, channel),
            "merge": render("_patient_merge.html", {"patient": patient, "error": None})
            if patient.unknown_sender
            else None,
        },
    )


@router.get("/patients/{patient_id}/messages/{message_id}/history", response_class=HTMLResponse)
def message_history(
    user: Staff,
    session: SessionDep,
    patient_id: PatientId,
    message_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> HTMLResponse:
    """A delivered text's status history, loaded when staff open it."""
    history = conversation_view.message_history(session, user.org_id, patient_id, message_id)
    tz = org_timezone(session, user.org_id)
    return HTMLResponse(render("_conversation_history.html", {"history": history, "tz": tz}))


@router.post("/patients/{patient_id}/read", response_class=HTMLResponse)
def mark_read(user: Staff, session: SessionDep, patient_id: PatientId) -> HTMLResponse:
    """Staff opened (or read) the conversation: it is no longer unread.

    The answer is the conversation as it now is, swapped in out of band, so the page does
    not depend on the live stream having started before this request.
    """
    patient = patients.mark_read(session, user.org_id, patient_id)
    session.flush()
    return HTMLResponse(live(session, user.org_id, patient, "conversation", oob=True))


@router.post("/patients/{patient_id}/review", response_class=HTMLResponse)
def resolve_review(
    user: Staff,
    session: SessionDep,
    patient_id: PatientId,
    decision: Annotated[str, Form(max_length=20)] = "",
) -> HTMLResponse:
    """Confirm the flagged reply as an opt-out, or dismiss the flag."""
    status, error = 200, None
    try:
        choice = review.Decision(decision)
    except ValueError:
        status, error = 422, "Choose Confirm opt-out or Dismiss."
    else:
        try:
            review.resolve(session, user.org_id, patient_id, choice, user.actor, utcnow())
        except ServiceError as err:
            refused = refusal(session, err)
            status, error = refused.status, refused.errors[FORM_ERROR]
    patient = patients.get_patient(session, user.org_id, patient_id)
    body = live(session, user.org_id, patient, "review", error=error)
    if status == 200:
        body += live(session, user.org_id, patient, "header", oob=True)
    return HTMLResponse(body, status_code=status)
