"""The patient page's side panel: edit the patient's details, record consent, move the lead,
delete a commlog, and fold an unknown sender into a patient.

Each form answers with its section again: saved with a notice (and, out of band, the page's
header, which shows consent and the lead), or refused with the error next to its field and
what was typed, nothing saved.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from clinictext.api.deps import SessionDep
from clinictext.api.schemas import MAX_ID
from clinictext.domain.consent import ConsentAction, ConsentLevel, OptOutSource
from clinictext.domain.leads import LeadStage
from clinictext.services import commlogs, consent, leads, patients
from clinictext.services.errors import ServiceError
from clinictext.services.web_sessions import SignedIn
from clinictext.web.access import Staff
from clinictext.web.forms import FORM_ERROR, refusal
from clinictext.web.pages.patient_parts import (
    LEVEL_WORDS,
    OPT_IN_SOURCES,
    STAGE_WORDS,
    PatientId,
    full_name,
    live,
    render,
    section,
)

router = APIRouter(include_in_schema=False)

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


# --- what the forms share ---------------------------------------------------------------


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


def _section_answer(
    session: Session,
    user: SignedIn,
    patient_id: int,
    name: str,
    *,
    typed: dict[str, str],
    errors: dict[str, str],
    notice: str,
    failed_form: str | None = None,
) -> HTMLResponse:
    """The section again: refused (422) with ``errors`` next to their fields and what was
    typed, or saved with ``notice`` and, out of band, the header, which shows consent and
    the lead."""
    patient = patients.get_patient(session, user.org_id, patient_id)
    if errors:
        body = section(
            session,
            user.org_id,
            patient,
            name,
            values=typed,
            errors=errors,
            failed_form=failed_form,
        )
        return HTMLResponse(body, status_code=422)
    body = section(session, user.org_id, patient, name, notice=notice)
    body += live(session, user.org_id, patient, "header", oob=True)
    return HTMLResponse(body)


# --- the forms ---------------------------------------------------------------------------


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
    patients.get_patient(session, user.org_id, patient_id)
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
    return _section_answer(
        session, user, patient_id, "details", typed=typed, errors=errors, notice="Saved."
    )


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
    patients.get_patient(session, user.org_id, patient_id)
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
            # The consent service does not name its fields: a bad source is the one it names.
            field = "source" if err.code == "invalid_source" else FORM_ERROR
            errors = refusal(session, err, field).errors
    return _section_answer(
        session,
        user,
        patient_id,
        "consent",
        typed=typed,
        errors=errors,
        notice="Opt-in recorded." if opt_in else "Opt-out recorded: no more texts will be sent.",
        failed_form=action if action in ("opt_in", "opt_out") else "opt_in",
    )


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
    patients.get_patient(session, user.org_id, patient_id)
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
    return _section_answer(
        session, user, patient_id, "lead", typed=typed, errors=errors, notice="Stage saved."
    )


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
