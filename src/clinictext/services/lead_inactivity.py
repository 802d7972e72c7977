"""Closing silent leads: an organization may close as lost, after N days, a lead whose
patient has not texted and whose stage has not changed in that time.

Run from the automation round (at most hourly is plenty: the unit is days). The change
goes through ``services.leads.set_stage``, so it has the same stage history and audit entry
as a change made by staff, with ``clinictext`` as the actor. Each organization's active
leads are read through the ``(organization_id, stage)`` index, oldest change first, a
bounded batch a run; on PostgreSQL the rows are locked ``SKIP LOCKED`` so two workers
never close the same lead twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from clinictext.domain.leads import ACTIVE_STAGES, LeadStage
from clinictext.services import leads
from clinictext.services.clock import as_of
from clinictext.services.sending import SYSTEM_ACTOR
from clinictext.store.models import Lead, Organization, Patient

BATCH = 500


def reason_for(days: int) -> str:
    return f"No reply in {days} day{'' if days == 1 else 's'}"


def close_inactive(session: Session, now: datetime, *, limit: int = BATCH) -> int:
    """Close as lost up to ``limit`` silent active leads; how many were closed."""
    settings = session.execute(
        select(Organization.id, Organization.lead_inactivity_days)
        .where(Organization.lead_inactivity_days.is_not(None))
        .where(Organization.lead_inactivity_days > 0)
        .order_by(Organization.id)
    ).all()
    closed = 0
    for org_id, days in settings:
        assert days is not None  # the query asked for organizations with a number of days
        if closed >= limit:
            break
        cutoff = now - timedelta(days=days)
        query = (
            select(Lead.patient_id)
            .join(Patient, Patient.id == Lead.patient_id)
            .where(
                Lead.organization_id == org_id,
                Lead.stage.in_([s.value for s in ACTIVE_STAGES]),
                Lead.updated_at <= cutoff,
                or_(Patient.last_inbound_at.is_(None), Patient.last_inbound_at <= cutoff),
            )
            .order_by(Lead.updated_at)
            .limit(limit - closed)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=Lead)
        silent = list(session.scalars(query))
        with as_of(now):  # the history and the audit entry carry the round's time
            for patient_id in silent:
                leads.set_stage(
                    session,
                    org_id,
                    patient_id,
                    LeadStage.CLOSED_LOST,
                    actor=SYSTEM_ACTOR,
                    reason=reason_for(days),
                )
        closed += len(silent)
    return closed
