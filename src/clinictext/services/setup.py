"""Loads what the setup checklist needs for one organization and asks the domain; lists the
organization's API keys for the settings page."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clinictext.domain.checklist import Channel, Registration, Verification
from clinictext.domain.setup import NumberFact, SetupFacts, SetupItem, evaluate_setup
from clinictext.domain.staff import Role
from clinictext.services.eligibility import manual_spend_micros
from clinictext.services.numbers import list_numbers
from clinictext.services.orgs import get_org
from clinictext.store.models import ApiKey, User


def setup_facts(session: Session, org_id: int, now: datetime) -> SetupFacts:
    org = get_org(session, org_id)
    active_staff = session.scalar(
        select(func.count())
        .select_from(User)
        .where(
            User.organization_id == org_id,
            User.role == Role.STAFF.value,
            User.disabled_at.is_(None),
        )
    )
    return SetupFacts(
        sms_enabled=org.sms_enabled,
        registration=Registration(org.messaging_registration),
        numbers=[
            NumberFact(n.number, Channel(n.purpose), n.kind, Verification(n.verification))
            for n in list_numbers(session, org_id)
        ],
        clinic_phone=org.clinic_phone,
        spend_limit_cents=org.manual_spend_limit_cents,
        month_spend_micros=manual_spend_micros(session, org, now),
        active_staff=int(active_staff or 0),
    )


def setup_checklist(session: Session, org_id: int, now: datetime) -> list[SetupItem]:
    """What still stops the organization from texting, and how to fix each item."""
    return evaluate_setup(setup_facts(session, org_id, now))


def list_api_keys(session: Session, org_id: int) -> list[ApiKey]:
    """The organization's API keys, live and revoked, newest first (hashes only)."""
    return list(
        session.scalars(
            select(ApiKey).where(ApiKey.organization_id == org_id).order_by(ApiKey.id.desc())
        )
    )
