"""Booking an appointment closes the patient's active lead as won, "scheduled" (SPEC §1).

The digital front door's goal is a booked visit: once it is booked, the lead has done its
work and leaves the board's active columns. Organizations that track leads by hand turn it
off (``Organization.lead_close_on_booking``). The change goes through the leads service, so
it is in the lead's stage history and audited with the person or program that booked.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from clinictext.domain.leads import LeadStage, is_active
from clinictext.services import audit, leads
from clinictext.store.models import Appointment, Organization

BOOKED_SUBSTATUS = "scheduled"


def close_lead_on_booking(
    session: Session, org: Organization, appointment: Appointment, *, actor: str, now: datetime
) -> bool:
    """Move the patient's active lead to closed won / scheduled; True when it moved."""
    if not org.lead_close_on_booking:
        return False
    lead = leads.get_lead(session, org.id, appointment.patient_id)
    if lead is None or not is_active(LeadStage(lead.stage)):
        return False
    previous = lead.stage
    leads.set_stage(
        session,
        org.id,
        appointment.patient_id,
        LeadStage.CLOSED_WON,
        actor=actor,
        substatus=BOOKED_SUBSTATUS,
    )
    audit.record(
        session,
        org.id,
        actor,
        "lead.closed_on_booking",
        "patient",
        appointment.patient_id,
        {"appointment_id": appointment.id, "from": previous},
        at=now,
    )
    return True
