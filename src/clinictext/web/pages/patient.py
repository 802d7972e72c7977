"""The patient page, ``/patients/{id}``: the conversation and the patient side by side.

The page is made of parts that refresh themselves when the conversation's topic changes
(``sse:conversation``): the header, the review banner, the conversation, the patient's
details, consent, lead stage and commlogs. Each part carries a fingerprint of what it shows
(``seen``); a refresh that would show the same thing answers 204, so nothing on the page
moves, closes or loses focus unless what it shows has changed. The forms sit outside the
parts: a refresh never touches what staff are typing.

Every change goes through the services the API uses, with the signed-in user as the actor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from clinictext.api.deps import SessionDep
from clinictext.api.schemas import MAX_ID
from clinictext.domain.consent import (
    ConsentAction,
    ConsentLevel,
    ConsentState,
    OptOutSource,
)
from clinictext.domain.leads import LeadStage, describe, is_active
from clinictext.domain.phones import display
from clinictext.services import (
    commlogs,
    consent,
    conversation_view,
    leads,
    orgs,
    patients,
    review,
)
from clinictext.services.clock import utcnow
from clinictext.services.errors import NotFound, ServiceError
from clinictext.store.models import Patient
from clinictext.web.access import Staff, StaffPage
from clinictext.web.forms import FORM_ERROR, refusal
from clinictext.web.render import ENV, html

router = APIRouter(include_in_schema=False)

PatientId = Annotated[int, Path(ge=1, le=MAX_ID)]

STAGES = (
    ("open", "Open"),
    ("in_progress", "In progress"),
    ("closed_won", "Closed won"),
    ("closed_lost", "Closed lost"),
)
STAGE_WORDS = dict(STAGES)
LEVELS = (
    ("informational", "Care texts (informational)"),
    ("marketing", "Care and marketing texts"),
)
LEVEL_WORDS = dict(LEVELS)
# The opt-in sources staff may record; "keyword" is the patient's own START.
OPT_IN_SOURCES = (
    ("web_form", "Web form"),
    ("paper_form", "Paper form"),
    ("verbal", "Verbally (in person or by phone)"),
    ("import", "Imported from another system"),
    ("api", "Another program (API)"),
)
SOURCE_WORDS = {
    **dict(OPT_IN_SOURCES),
    "keyword": "the patient's own text (keyword)",
    "staff": "staff",
    "campaign": "a campaign unsubscribe",
    "carrier": "the carrier (the patient blocked texts)",
    "free_text": "a reply asking to stop (confirmed by staff)",
}
CONSENT_WORDS = {
    ConsentState.OPTED_IN.value: "Opted in",
    ConsentState.OPTED_OUT.value: "Opted out",
    ConsentState.NONE.value: "No consent recorded",
}
CONSENT_TONES = {
    ConsentState.OPTED_IN.value: "tone-ok",
    ConsentState.OPTED_OUT.value: "tone-bad",
    ConsentState.NONE.value: "tone-muted",
}
STATUS_WORDS = {
    "scheduled": "Scheduled",
    "queued": "Queued",
    "sending": "Handed to the provider",
    "sent": "Sent (carrier accepted)",
    "delivered": "Delivered",
    "undelivered": "Undelivered",
    "failed": "Failed",
    "canceled": "Canceled",
    "received": "Received",
}
PHONE_WORDS = {
    "valid": "Valid",
    "landline": "Landline: cannot receive texts",
    "invalid": "Invalid number",
    "missing": "No phone on file",
}
# Field lengths as the API accepts them (api/schemas.py).
LIMITS = {
    "first_name": 100,
    "last_name": 100,
    "phone": 40,
    "evidence": 2000,
    "substatus": 100,
    "reason": 200,
}
FIELD_WORDS = {
    "first_name": "first name",
    "last_name": "last name",
    "phone": "wireless phone",
    "evidence": "evidence",
    "substatus": "sub-status",
    "reason": "reason",
}
# How many texts and commlogs a part shows at first; "Show more" adds as many again.
SHOWN = {"conversation": 100, "commlogs": 20}
SHOWN_MAX = 5000

WORDS: dict[str, Any] = {
    "stages": STAGES,
    "stage_words": STAGE_WORDS,
    "levels": LEVELS,
    "level_words": LEVEL_WORDS,
    "opt_in_sources": OPT_IN_SOURCES,
    "source_words": SOURCE_WORDS,
    "consent_words": CONSENT_WORDS,
    "consent_tones": CONSENT_TONES,
    "status_words": STATUS_WORDS,
    "phone_words": PHONE_WORDS,
    "display_phone": lambda e164: display(e164) if e164 else "",
    "describe_stage": lambda stage, sub: describe(LeadStage(stage), sub) if stage else "not a lead",
}


def render(template: str, context: dict[str, Any]) -> Markup:
    """A template rendered to safe HTML (autoescaped), to place inside another."""
    return Markup(ENV.get_template(template).render({**WORDS, **context}))


def full_name(patient: Patient) -> str:
    return f"{patient.first_name} {patient.last_name}".strip()


# --- checking what was typed ---------------------------------------------------------------


def typed_problems(values: dict[str, str]) -> dict[str, str]:
    """Problems the API refuses before any service sees them: length and NUL characters."""
    errors: dict[str, str] = {}
    for name, value in values.items():
        limit = LIMITS.get(name)
        what = FIELD_WORDS.get(name, name)
        if "\x00" in value:
            errors[name] = f"The {what} contains a NUL character; remove it."
        elif limit is not None and len(value) > limit:
            errors[name] = (
                f"The {what} is {len(value):,} characters; it can be at most {limit:,}. Shorten it."
            )
    return errors


# --- the live parts -----------------------------------------------------------------------


def _timezone(session: Session, org_id: int) -> str:
    return orgs.get_org(session, org_id).timezone


def _header(session: Session, org_id: int, patient: Patient, **_: Any) -> dict[str, Any]:
    lead = leads.get_lead(session, org_id, patient.id)
    return {
        "lead": lead,
        "lead_active": bool(lead and is_active(LeadStage(lead.stage))),
        "consent": consent.current(session, org_id, patient.phone),
    }


def _review(session: Session, org_id: int, patient: Patient, **_: Any) -> dict[str, Any]:
    return {"flagged_text": conversation_view.flagged_text(session, org_id, patient.id)}


def _conversation(
    session: Session, org_id: int, patient: Patient, show: int | None = None, **_: Any
) -> dict[str, Any]:
    show = show or SHOWN["conversation"]
    talk = conversation_view.conversation(session, org_id, patient.id, utcnow(), limit=show)
    return {"conversation": talk, "show": show, "more": min(talk.earlier, SHOWN["conversation"])}


def _details(session: Session, org_id: int, patient: Patient, **_: Any) -> dict[str, Any]:
    return {}


def _consent(session: Session, org_id: int, patient: Patient, **_: Any) -> dict[str, Any]:
    view = consent.view(session, org_id, patient.id)
    names = conversation_view.actor_names(session, org_id, (r.recorded_by for r in view.history))
    return {"consent": view.consent, "history": list(reversed(view.history)), "names": names}


def _lead(session: Session, org_id: int, patient: Patient, **_: Any) -> dict[str, Any]:
    view = leads.view(session, org_id, patient.id)
    names = conversation_view.actor_names(session, org_id, (h.actor for h in view.history))
    return {"lead": view.lead, "history": list(reversed(view.history)), "names": names}


def _commlogs(
    session: Session, org_id: int, patient: Patient, show: int | None = None, **_: Any
) -> dict[str, Any]:
    show = show or SHOWN["commlogs"]
    rows, total = conversation_view.commlog_list(session, org_id, patient.id, limit=show)
    more = min(total - len(rows), SHOWN["commlogs"])
    return {"commlogs": rows, "commlog_total": total, "show": show, "more": more}


PARTS: dict[str, Callable[..., dict[str, Any]]] = {
    "header": _header,
    "review": _review,
    "conversation": _conversation,
    "details": _details,
    "consent": _consent,
    "lead": _lead,
    "commlogs": _commlogs,
}
# The classes of the element a part replaces (``patient-<part>`` is its id).
PART_CLASSES = {"header": "patient-header", "conversation": "conversation"}


def fingerprint(inner: str) -> str:
    return hashlib.sha256(inner.encode()).hexdigest()[:16]


def _inner(
    session: Session, org_id: int, patient: Patient, part: str, tz: str, **extra: Any
) -> Markup:
    """What a part shows, rendered (``extra``: ``error``, ``show``)."""
    context = PARTS[part](session, org_id, patient, **extra)
    return render(
        f"_patient_{part}_view.html" if part != "conversation" else "_conversation.html",
        {"patient": patient, "tz": tz, **extra, **context},
    )


def _wrap(patient: Patient, part: str, inner: Markup, show: int | None, oob: bool) -> Markup:
    query: dict[str, Any] = {"show": show} if show and part in SHOWN else {}
    query["seen"] = fingerprint(inner)
    return render(
        "_patient_live.html",
        {
            "live_id": f"patient-{part}",
            "live_class": PART_CLASSES.get(part, ""),
            # A text's diagnosis also depends on the connector (down since...).
            "live_trigger": "sse:conversation, sse:connector"
            if part == "conversation"
            else "sse:conversation",
            "live_url": f"/patients/{patient.id}/live/{part}?{urlencode(query)}",
            "inner": inner,
            "oob": oob,
        },
    )


def live(
    session: Session,
    org_id: int,
    patient: Patient,
    part: str,
    *,
    tz: str | None = None,
    oob: bool = False,
    error: str | None = None,
    show: int | None = None,
) -> Markup:
    """One part of the page, wrapped in the element that refreshes it on ``sse:conversation``."""
    tz = tz or _timezone(session, org_id)
    inner = _inner(session, org_id, patient, part, tz, error=error, show=show)
    return _wrap(patient, part, inner, show, oob)


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
    tz = _timezone(session, user.org_id)
    inner = _inner(session, user.org_id, patient, part, tz, error=None, show=show)
    if seen and seen == fingerprint(inner):
        return Response(status_code=204)
    return HTMLResponse(_wrap(patient, part, inner, show, oob=False))


# --- the page -----------------------------------------------------------------------------


def section(
    session: Session,
    org_id: int,
    patient: Patient,
    name: str,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    failed_form: str | None = None,
    notice: str | None = None,
    tz: str | None = None,
) -> Markup:
    """A side-panel section: its live view and its form (with what was typed, on a refusal)."""
    tz = tz or _timezone(session, org_id)
    lead = leads.get_lead(session, org_id, patient.id) if name == "lead" else None
    return render(
        f"_patient_{name}.html",
        {
            "patient_lead_stage": lead.stage if lead else None,
            "patient": patient,
            "tz": tz,
            "view": live(session, org_id, patient, name, tz=tz),
            "values": values or {},
            "errors": errors or {},
            "failed_form": failed_form,
            "notice": notice,
        },
    )


@router.get("/patients/{patient_id}", response_class=HTMLResponse)
def patient_page(
    request: Request, user: StaffPage, session: SessionDep, patient_id: PatientId
) -> HTMLResponse:
    """The conversation, the composer and the patient's details, consent, lead and commlogs."""
    from clinictext.web.pages.composer import composer_html

    org_id = user.org_id
    patient = patients.get_patient(session, org_id, patient_id)
    tz = _timezone(session, org_id)
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
    tz = _timezone(session, user.org_id)
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


@router.post("/patients/{patient_id}/details", response_class=HTMLResponse)
def save_details(
    user: Staff,
    session: SessionDep,
    patient_id: PatientId,
    first_name: Annotated[str, Form()] = "",
    last_name: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Edit the patient's names and wireless phone, checked as the API checks them."""
    typed = {"first_name": first_name, "last_name": last_name, "phone": phone}
    patient = patients.get_patient(session, user.org_id, patient_id)
    errors = typed_problems(typed)
    if not errors:
        changes: dict[str, Any] = {
            "first_name": first_name,
            "last_name": last_name,
            "phone": phone if phone.strip() else None,
        }
        try:
            patients.update_patient(session, user.org_id, patient_id, changes, user.actor)
        except ServiceError as err:
            errors = refusal(session, err).errors
            patient = patients.get_patient(session, user.org_id, patient_id)
    if errors:
        body = section(session, user.org_id, patient, "details", values=typed, errors=errors)
        return HTMLResponse(body, status_code=422)
    body = section(session, user.org_id, patient, "details", notice="Saved.")
    body += live(session, user.org_id, patient, "header", oob=True)
    return HTMLResponse(body)


@router.post("/patients/{patient_id}/consent", response_class=HTMLResponse)
def record_consent(
    user: Staff,
    session: SessionDep,
    patient_id: PatientId,
    action: Annotated[str, Form(max_length=20)] = "",
    level: Annotated[str, Form(max_length=20)] = "",
    source: Annotated[str, Form(max_length=20)] = "",
    evidence: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Record an opt-in (level, source, evidence) or a staff opt-out, as the API does."""
    typed = {"level": level, "source": source, "evidence": evidence}
    patient = patients.get_patient(session, user.org_id, patient_id)
    errors = typed_problems({"evidence": evidence})
    opt_in = action == ConsentAction.OPT_IN.value
    if action not in (ConsentAction.OPT_IN.value, ConsentAction.OPT_OUT.value):
        errors[FORM_ERROR] = "Use the Record opt-in or Record opt-out button."
    elif opt_in and level not in LEVEL_WORDS:
        errors["level"] = "Choose what the patient agreed to receive."
    elif opt_in and source not in dict(OPT_IN_SOURCES):
        errors["source"] = "Choose how the patient agreed."
    if not errors:
        try:
            consent.record(
                session,
                user.org_id,
                patient_id,
                action=ConsentAction(action),
                source=source if opt_in else OptOutSource.STAFF.value,
                level=ConsentLevel(level) if opt_in else None,
                evidence=evidence,
                actor=user.actor,
            )
        except ServiceError as err:
            field = "source" if err.code == "invalid_source" else FORM_ERROR
            errors = refusal(session, err, field).errors
            patient = patients.get_patient(session, user.org_id, patient_id)
    if errors:
        body = section(
            session,
            user.org_id,
            patient,
            "consent",
            values=typed,
            errors=errors,
            failed_form=action if action in ("opt_in", "opt_out") else "opt_in",
        )
        return HTMLResponse(body, status_code=422)
    notice = "Opt-in recorded." if opt_in else "Opt-out recorded: no more texts will be sent."
    body = section(session, user.org_id, patient, "consent", notice=notice)
    body += live(session, user.org_id, patient, "header", oob=True)
    return HTMLResponse(body)


@router.post("/patients/{patient_id}/lead", response_class=HTMLResponse)
def change_stage(
    user: Staff,
    session: SessionDep,
    patient_id: PatientId,
    stage: Annotated[str, Form(max_length=20)] = "",
    substatus: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Move the lead to another stage; closed lost needs a reason."""
    typed = {"stage": stage, "substatus": substatus, "reason": reason}
    patient = patients.get_patient(session, user.org_id, patient_id)
    errors = typed_problems({"substatus": substatus, "reason": reason})
    if stage not in STAGE_WORDS:
        errors["stage"] = "Choose a stage."
    if not errors:
        try:
            leads.set_stage(
                session,
                user.org_id,
                patient_id,
                LeadStage(stage),
                substatus=substatus.strip() or None,
                reason=reason.strip() or None,
                actor=user.actor,
            )
        except ServiceError as err:
            errors = refusal(session, err, "reason").errors
            patient = patients.get_patient(session, user.org_id, patient_id)
    if errors:
        body = section(session, user.org_id, patient, "lead", values=typed, errors=errors)
        return HTMLResponse(body, status_code=422)
    body = section(session, user.org_id, patient, "lead", notice="Stage saved.")
    body += live(session, user.org_id, patient, "header", oob=True)
    return HTMLResponse(body)


@router.post("/patients/{patient_id}/commlogs/{commlog_id}/delete", response_class=HTMLResponse)
def delete_commlog(
    user: Staff,
    session: SessionDep,
    patient_id: PatientId,
    commlog_id: Annotated[int, Path(ge=1, le=MAX_ID)],
) -> HTMLResponse:
    """Delete a sent text's commlog; a received text's is refused with the reason."""
    patient = patients.get_patient(session, user.org_id, patient_id)
    status, error = 200, None
    try:
        commlogs.delete_commlog(session, user.org_id, commlog_id, user.actor)
    except ServiceError as err:
        refused = refusal(session, err)
        status, error = refused.status, refused.errors[FORM_ERROR]
        patient = patients.get_patient(session, user.org_id, patient_id)
    return HTMLResponse(
        live(session, user.org_id, patient, "commlogs", error=error), status_code=status
    )


@router.get("/patients/{patient_id}/merge/candidates", response_class=HTMLResponse)
def merge_candidates(
    request: Request,
    user: Staff,
    session: SessionDep,
    patient_id: PatientId,
    q: Annotated[str, Query(max_length=100)] = "",
) -> HTMLResponse:
    """Patients an unknown sender could be, by name (or external id)."""
    patient = patients.get_patient(session, user.org_id, patient_id)
    found = []
    if q.strip():
        page = patients.list_patients(
            session, user.org_id, q=q.strip(), unknown_sender=False, limit=10
        )
        found = [p for p in page.items if p.id != patient.id]
    return HTMLResponse(
        render(
            "_patient_merge_results.html",
            {"patient": patient, "found": found, "q": q.strip(), "full_name": full_name},
        )
    )


@router.post("/patients/{patient_id}/merge", response_class=HTMLResponse)
def merge(
    user: Staff,
    session: SessionDep,
    patient_id: PatientId,
    into: Annotated[int, Form(ge=1, le=MAX_ID)],
) -> HTMLResponse:
    """Fold this unknown sender into an existing patient, then open that patient."""
    try:
        target = patients.merge_unknown_sender(session, user.org_id, patient_id, into, user.actor)
    except ServiceError as err:
        refused = refusal(session, err)
        patient = patients.get_patient(session, user.org_id, patient_id)
        body = render(
            "_patient_merge.html", {"patient": patient, "error": refused.errors[FORM_ERROR]}
        )
        return HTMLResponse(body, status_code=refused.status)
    return HTMLResponse("", headers={"HX-Redirect": f"/patients/{target.id}"})
