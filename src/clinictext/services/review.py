"""Staff review of a reply that may revoke consent in plain words."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from clinictext.domain.consent import ConsentAction, OptOutSource
from clinictext.services import audit
from clinictext.services import consent as consent_service
from clinictext.services.errors import Conflict
from clinictext.services.patients import get_patient
from clinictext.store.models import Patient


class Decision(StrEnum):
    CONFIRM = "confirm"  # the patient asked to stop: record the opt-out
    DISMISS = "dismiss"  # not a request to stop


def resolve(
    session: Session, org_id: int, patient_id: int, decision: Decision, actor: str, now: datetime
) -> Patient:
    patient = get_patient(session, org_id, patient_id)
    if patient.review_flag is None:
        raise Conflict("This patient has no reply waiting for review.", code="nothing_to_review")
    message_id = patient.review_message_id
    if decision is Decision.CONFIRM:
        consent_service.record(
            session,
            org_id,
            patient_id,
            action=ConsentAction.OPT_OUT,
            source=OptOutSource.FREE_TEXT.value,
            actor=actor,
            evidence=f"Staff read message {message_id} as a request to stop texting: "
            f"{patient.review_phrase!r}.",
            now=now,
        )
    patient.review_flag = patient.review_phrase = None
    patient.review_message_id = None
    patient.updated_at = now
    audit.record(
        session,
        org_id,
        actor,
        f"consent.revocation_{decision.value}ed",
        "patient",
        patient_id,
        {"message_id": message_id},
        at=now,
    )
    return patient
