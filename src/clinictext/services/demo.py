"""The demo clinic: patients chosen so that each can-text check fails for one of them.

Demo Clinic (SMS on, registration approved, both numbers verified):
  Alice Ready    passes every check on both channels
  Ben Landline   `phone` fails: his phone is a landline
  Carla Nobody   `consent` fails: she never opted in
  Dan Stopped    `consent` fails: he replied STOP (only he can opt back in)
  Erin Booked    `lead_stage` fails on the lead channel (closed won, scheduled);
                 the clinic channel passes
  Gina Informed  `consent` fails for campaigns only (informational consent)
Staff sign-ins (web app): frontdesk@demo.example / demo-frontdesk (staff) and
admin@demo.example / demo-admin (admin).
Lakeside Dental (a second organization, still being set up):
  Sam Setup      `sms_enabled` fails (registration pending), `sender_number` fails on the
                 clinic channel (a landline awaiting confirmation) and `spend_limit` fails
                 (the manual-text limit is $0.00)
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinictext.domain.checklist import Channel
from clinictext.domain.consent import ConsentAction, ConsentLevel
from clinictext.domain.leads import LeadStage
from clinictext.services import consent, leads, numbers, orgs, patients, users
from clinictext.store.models import Organization, Patient, User

DEMO_ORG = "Demo Clinic"
SETUP_ORG = "Lakeside Dental"
# Fixed, documented keys so the README's curl lines work; only ever created by --demo.
DEMO_KEY = "ct_demo_clinic_key"
SETUP_KEY = "ct_demo_lakeside_key"
ACTOR = "demo"
# Fixed, documented sign-ins for the web app; only ever created by --demo.
DEMO_USERS = (
    ("frontdesk@demo.example", "demo-frontdesk", "staff"),
    ("admin@demo.example", "demo-admin", "admin"),
)


@dataclass(frozen=True)
class DemoSeed:
    org_id: int
    api_key: str
    setup_org_id: int
    setup_api_key: str
    patients: dict[str, int]


def _org(session: Session, name: str, key: str) -> tuple[Organization, bool]:
    existing = session.scalar(select(Organization).where(Organization.name == name))
    if existing is not None:
        return existing, False
    org = orgs.create_org(session, name, timezone="America/Los_Angeles", actor=ACTOR)
    orgs.create_api_key(session, org.id, name="demo", actor=ACTOR, key=key)
    return org, True


def seed(session: Session) -> DemoSeed:
    """Create the demo organizations once; later calls return what exists."""
    org, new = _org(session, DEMO_ORG, DEMO_KEY)
    if new:
        orgs.update_org(
            session,
            org.id,
            {
                "sms_enabled": True,
                "messaging_registration": "approved",
                "clinic_phone": "+14155550100",
                "manual_spend_limit_cents": 5000,
            },
            ACTOR,
        )
        numbers.add_number(session, org.id, "+15005550006", Channel.LEAD, "long_code", 1, ACTOR)
        numbers.add_number(session, org.id, "+14155550100", Channel.CLINIC, "long_code", 1, ACTOR)

        def patient(first: str, last: str, phone: str) -> int:
            return patients.create_patient(
                session, org.id, first_name=first, last_name=last, phone=phone, actor=ACTOR
            ).id

        def opt_in(pid: int, level: ConsentLevel) -> None:
            consent.record(
                session,
                org.id,
                pid,
                action=ConsentAction.OPT_IN,
                source="web_form",
                level=level,
                evidence="Demo: ticked the texting box on the new-patient form.",
                actor=ACTOR,
            )

        alice = patient("Alice", "Ready", "(415) 555-0101")
        opt_in(alice, ConsentLevel.MARKETING)
        leads.set_stage(session, org.id, alice, LeadStage.OPEN, actor=ACTOR)
        ben = patient("Ben", "Landline", "+44 20 7183 8750")
        opt_in(ben, ConsentLevel.INFORMATIONAL)
        patient("Carla", "Nobody", "(415) 555-0103")
        dan = patient("Dan", "Stopped", "(415) 555-0104")
        opt_in(dan, ConsentLevel.INFORMATIONAL)
        consent.record(
            session,
            org.id,
            dan,
            action=ConsentAction.OPT_OUT,
            source="keyword",
            evidence="Demo: the patient replied STOP.",
            actor=ACTOR,
            by_patient=True,
        )
        erin = patient("Erin", "Booked", "(415) 555-0105")
        opt_in(erin, ConsentLevel.INFORMATIONAL)
        leads.set_stage(session, org.id, erin, LeadStage.OPEN, actor=ACTOR)
        leads.set_stage(
            session, org.id, erin, LeadStage.CLOSED_WON, substatus="scheduled", actor=ACTOR
        )
        gina = patient("Gina", "Informed", "(415) 555-0107")
        opt_in(gina, ConsentLevel.INFORMATIONAL)

    setup, new_setup = _org(session, SETUP_ORG, SETUP_KEY)
    if new_setup:
        orgs.update_org(
            session,
            setup.id,
            {
                "sms_enabled": True,
                "messaging_registration": "pending",
                "clinic_phone": "+15035550100",
                "manual_spend_limit_cents": 0,
            },
            ACTOR,
        )
        numbers.add_number(session, setup.id, "+15035550100", Channel.CLINIC, "landline", 1, ACTOR)
        sam = patients.create_patient(
            session,
            setup.id,
            first_name="Sam",
            last_name="Setup",
            phone="(503) 555-0111",
            actor=ACTOR,
        ).id
        consent.record(
            session,
            setup.id,
            sam,
            action=ConsentAction.OPT_IN,
            source="paper_form",
            level=ConsentLevel.MARKETING,
            evidence="Demo: signed the paper form.",
            actor=ACTOR,
        )
    for email, password, role in DEMO_USERS:
        if session.scalar(select(User.id).where(User.email == email)) is None:
            users.create_user(session, org.id, email, role, password, ACTOR)
    session.flush()
    ids = {
        f"{p.first_name} {p.last_name}": p.id
        for p in session.scalars(
            select(Patient).where(Patient.organization_id.in_([org.id, setup.id]))
        )
    }
    return DemoSeed(org.id, DEMO_KEY, setup.id, SETUP_KEY, ids)
