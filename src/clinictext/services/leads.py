"""A patient's lead stage in the digital front door, with its history."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinictext.domain.leads import LeadChangeRefused, LeadStage, check_change
from clinictext.services import audit
from clinictext.services.clock import utcnow
from clinictext.services.errors import Invalid
from clinictext.services.patients import get_patient
from clinictext.store.models import Lead, LeadStageChange


@dataclass(frozen=True)
class LeadView:
    lead: Lead | None
    history: list[LeadStageChange]


def get_lead(session: Session, org_id: int, patient_id: int) -> Lead | None:
    return session.scalar(
        select(Lead).where(Lead.organization_id == org_id, Lead.patient_id == patient_id)
    )


def view(session: Session, org_id: int, patient_id: int) -> LeadView:
    get_patient(session, org_id, patient_id)
    history = session.scalars(
        select(LeadStageChange)
        .where(LeadStageChange.organization_id == org_id, LeadStageChange.patient_id == patient_id)
        .order_by(LeadStageChange.id)
    )
    return LeadView(get_lead(session, org_id, patient_id), list(history))


def set_stage(
    session: Session,
    org_id: int,
    patient_id: int,
    stage: LeadStage,
    *,
    actor: str,
    substatus: str | None = None,
    reason: str | None = None,
) -> LeadView:
    get_patient(session, org_id, patient_id)
    try:
        check_change(stage, substatus, reason)
    except LeadChangeRefused as err:
        raise Invalid(str(err), code="invalid_lead_change") from None
    now = utcnow()
    lead = get_lead(session, org_id, patient_id)
    previous = lead.stage if lead else None
    if lead is None:
        lead = Lead(organization_id=org_id, patient_id=patient_id)
        session.add(lead)
    if (lead.stage, lead.substatus, lead.reason) != (stage.value, substatus, reason):
        lead.stage, lead.substatus, lead.reason, lead.updated_at = (
            stage.value,
            substatus,
            reason,
            now,
        )
        session.add(
            LeadStageChange(
                organization_id=org_id,
                patient_id=patient_id,
                from_stage=previous,
                stage=stage.value,
                substatus=substatus,
                reason=reason,
                actor=actor,
                at=now,
            )
        )
        audit.record(
            session,
            org_id,
            actor,
            "lead.stage_changed",
            "patient",
            patient_id,
            {"from": previous, "to": stage.value, "substatus": substatus},
            at=now,
        )
    session.flush()
    return view(session, org_id, patient_id)
