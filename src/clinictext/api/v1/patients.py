from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from clinictext.api.deps import CallerDep, SessionDep
from clinictext.api.schemas import (
    MAX_ID,
    CanTextOut,
    ChannelName,
    CheckOut,
    ConsentEventOut,
    ConsentIn,
    ConsentOut,
    LeadChangeOut,
    LeadIn,
    LeadOut,
    MergeIn,
    MessageOut,
    PatientIn,
    PatientOut,
    PatientPatch,
    ReviewIn,
    SendKindName,
)
from clinictext.api.v1.messages import messages_out
from clinictext.domain.checklist import Channel, SendKind
from clinictext.domain.consent import ConsentAction, ConsentLevel, OptOutSource
from clinictext.domain.leads import LeadStage, is_active
from clinictext.services import consent, leads, messages, patients, review
from clinictext.services.clock import utcnow
from clinictext.services.eligibility import evaluate_patient
from clinictext.services.errors import Invalid
from clinictext.services.messages import diagnosis_context

router = APIRouter(tags=["patients"])

PatientId = Annotated[int, Path(ge=1, le=MAX_ID, description="The patient's id.")]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=20)]


def patient_out(row: object) -> PatientOut:
    return PatientOut.model_validate(row, from_attributes=True)


@router.post("/patients", response_model=PatientOut, status_code=201)
def create_patient(body: PatientIn, caller: CallerDep, session: SessionDep) -> PatientOut:
    """Create a patient; the phone is read in the organization's country and flagged."""
    row = patients.create_patient(
        session,
        caller.org_id,
        first_name=body.first_name,
        last_name=body.last_name,
        phone=body.phone,
        timezone=body.timezone,
        external_id=body.external_id,
        language=body.language,
        actor=caller.actor,
    )
    return patient_out(row)


@router.get("/patients", response_model=list[PatientOut])
def list_patients(
    caller: CallerDep,
    session: SessionDep,
    response: Response,
    phone: Annotated[str | None, Query(max_length=40)] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    unknown_sender: bool | None = None,
    flag: Literal["revocation_review"] | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> list[PatientOut]:
    """Patients by id; ``X-Next-Cursor`` carries the cursor of the next page, if any."""
    page = patients.list_patients(
        session,
        caller.org_id,
        phone=phone,
        q=q,
        unknown_sender=unknown_sender,
        flag=flag,
        limit=limit,
        cursor=cursor,
    )
    if page.next_cursor:
        response.headers["X-Next-Cursor"] = page.next_cursor
    return [patient_out(p) for p in page.items]


@router.get("/patients/{patient_id}", response_model=PatientOut)
def get_patient(patient_id: PatientId, caller: CallerDep, session: SessionDep) -> PatientOut:
    return patient_out(patients.get_patient(session, caller.org_id, patient_id))


@router.patch("/patients/{patient_id}", response_model=PatientOut)
def patch_patient(
    patient_id: PatientId, body: PatientPatch, caller: CallerDep, session: SessionDep
) -> PatientOut:
    changes = body.model_dump(exclude_unset=True)
    for field in ("first_name", "last_name", "language"):
        if field in changes and changes[field] is None:
            raise Invalid(f"'{field}' cannot be empty.", code="invalid_request")
    row = patients.update_patient(session, caller.org_id, patient_id, changes, caller.actor)
    return patient_out(row)


def consent_out(view: consent.ConsentView) -> ConsentOut:
    c = view.consent
    return ConsentOut(
        state=c.state.value,
        level=c.level.value if c.level else None,
        since=c.since,
        source=c.source,
        locked_by_patient=c.locked_by_patient,
        history=[ConsentEventOut.model_validate(r, from_attributes=True) for r in view.history],
    )


@router.get("/patients/{patient_id}/consent", response_model=ConsentOut)
def get_consent(patient_id: PatientId, caller: CallerDep, session: SessionDep) -> ConsentOut:
    return consent_out(consent.view(session, caller.org_id, patient_id))


@router.post("/patients/{patient_id}/consent", response_model=ConsentOut, status_code=201)
def record_consent(
    patient_id: PatientId, body: ConsentIn, caller: CallerDep, session: SessionDep
) -> ConsentOut:
    """Append to the consent ledger. Staff cannot lift an opt-out the patient made by STOP."""
    action = ConsentAction(body.action)
    if action is ConsentAction.OPT_IN and body.source is None:
        raise Invalid(
            "An opt-in needs a 'source' saying how the patient agreed (web_form, paper_form, "
            "verbal, import or api).",
            code="invalid_source",
        )
    if action is ConsentAction.OPT_OUT and body.level is not None:
        raise Invalid("An opt-out covers every kind of text; send it without 'level'.")
    view = consent.record(
        session,
        caller.org_id,
        patient_id,
        action=action,
        source=body.source or OptOutSource.STAFF.value,
        level=ConsentLevel(body.level) if body.level else None,
        evidence=body.evidence,
        actor=caller.actor,
    )
    return consent_out(view)


def lead_out(view: leads.LeadView) -> LeadOut:
    lead = view.lead
    stage = LeadStage(lead.stage) if lead else None
    return LeadOut(
        stage=stage.value if stage else None,
        substatus=lead.substatus if lead else None,
        reason=lead.reason if lead else None,
        active=is_active(stage),
        history=[LeadChangeOut.model_validate(h, from_attributes=True) for h in view.history],
    )


@router.get("/patients/{patient_id}/lead", response_model=LeadOut)
def get_lead(patient_id: PatientId, caller: CallerDep, session: SessionDep) -> LeadOut:
    """The lead stage; ``stage`` is null for a patient who never was a lead."""
    return lead_out(leads.view(session, caller.org_id, patient_id))


@router.put("/patients/{patient_id}/lead", response_model=LeadOut)
def put_lead(
    patient_id: PatientId, body: LeadIn, caller: CallerDep, session: SessionDep
) -> LeadOut:
    view = leads.set_stage(
        session,
        caller.org_id,
        patient_id,
        LeadStage(body.stage),
        substatus=body.substatus,
        reason=body.reason,
        actor=caller.actor,
    )
    return lead_out(view)


@router.get("/patients/{patient_id}/can-text", response_model=CanTextOut)
def can_text(
    patient_id: PatientId,
    caller: CallerDep,
    session: SessionDep,
    channel: ChannelName = "clinic",
    kind: SendKindName = "manual",
) -> CanTextOut:
    """Every check of the can-text checklist, in order, each with what to do if it fails."""
    verdict = evaluate_patient(
        session, caller.org_id, patient_id, Channel(channel), SendKind(kind), now=utcnow()
    )
    return CanTextOut(
        can_text=verdict.ok,
        channel=channel,
        kind=kind,
        checks=[CheckOut(id=c.id, ok=c.ok, detail=c.detail, fix=c.fix) for c in verdict.checks],
    )


@router.get("/patients/{patient_id}/messages", response_model=list[MessageOut])
def patient_messages(
    patient_id: PatientId,
    caller: CallerDep,
    session: SessionDep,
    response: Response,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> list[MessageOut]:
    page = messages.list_messages(
        session, caller.org_id, patient_id=patient_id, limit=limit, cursor=cursor
    )
    if page.next_cursor:
        response.headers["X-Next-Cursor"] = page.next_cursor
    ctx = diagnosis_context(session, caller.org_id, utcnow())
    return messages_out(session, page.items, ctx)


@router.post("/patients/{patient_id}/revocation-review", response_model=PatientOut)
def review_revocation(
    patient_id: PatientId, body: ReviewIn, caller: CallerDep, session: SessionDep
) -> PatientOut:
    """Confirm a flagged reply as an opt-out (source free_text), or dismiss the flag."""
    row = review.resolve(
        session, caller.org_id, patient_id, review.Decision(body.decision), caller.actor, utcnow()
    )
    return patient_out(row)


@router.post("/patients/{patient_id}/read", response_model=PatientOut)
def mark_read(patient_id: PatientId, caller: CallerDep, session: SessionDep) -> PatientOut:
    """Staff have read the conversation: its unread count goes to zero."""
    return patient_out(patients.mark_read(session, caller.org_id, patient_id))


@router.post("/patients/{patient_id}/merge", response_model=PatientOut)
def merge(
    patient_id: PatientId, body: MergeIn, caller: CallerDep, session: SessionDep
) -> PatientOut:
    """Merge an unknown sender into the right patient: texts, commlogs and consent move."""
    row = patients.merge_unknown_sender(session, caller.org_id, patient_id, body.into, caller.actor)
    return patient_out(row)
