"""The demo clinic's seed: what a first-time visitor sees, and that it is written only once.

The expected can-text failures come from the seed's documentation (services/demo.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.dispatch.claims import claim_due
from clinictext.domain.carrier_errors import lookup
from clinictext.domain.checklist import Channel, SendKind
from clinictext.domain.consent import ConsentState
from clinictext.domain.leads import LeadStage
from clinictext.domain.revocation import detect_revocation
from clinictext.domain.statuses import FINAL, PENDING, Label, Status, label
from clinictext.services import commlogs, connector, consent, demo, leads, messages
from clinictext.services.clock import utcnow
from clinictext.services.eligibility import evaluate_patient
from clinictext.store.db import transaction
from clinictext.store.models import (
    Appointment,
    AppointmentText,
    Campaign,
    Commlog,
    Lead,
    Message,
    Patient,
    Rule,
    Template,
)

ALL_KINDS = tuple(SendKind)


@pytest.fixture
def seeded(factory: sessionmaker[Session]) -> demo.DemoSeed:
    with transaction(factory) as session:
        return demo.seed(session)


def _patients(session: Session, org_id: int) -> dict[str, Patient]:
    rows = session.scalars(select(Patient).where(Patient.organization_id == org_id))
    return {f"{p.first_name} {p.last_name}": p for p in rows}


def _messages(session: Session, org_id: int, patient_id: int | None = None) -> list[Message]:
    query = select(Message).where(Message.organization_id == org_id)
    if patient_id is not None:
        query = query.where(Message.patient_id == patient_id)
    return list(session.scalars(query.order_by(Message.id)))


def _failing(session: Session, org_id: int, pid: int, channel: Channel, kind: SendKind) -> set[str]:
    verdict = evaluate_patient(session, org_id, pid, channel, kind, now=utcnow())
    return {c.id for c in verdict.checks if not c.ok}


def test_seeding_twice_creates_nothing_the_second_time(
    factory: sessionmaker[Session], seeded: demo.DemoSeed, rows: Callable[[], dict[str, int]]
) -> None:
    before = rows()
    assert before["messages"] >= 25
    with transaction(factory) as session:
        again = demo.seed(session)
    assert again == seeded
    assert rows() == before


def test_the_demo_clinic_has_its_documented_patients(seeded: demo.DemoSeed) -> None:
    first = ["Alice Ready", "Ben Landline", "Carla Nobody", "Dan Stopped", "Erin Booked"]
    first += ["Gina Informed", "Sam Setup"]
    by_id = sorted(seeded.patients, key=seeded.patients.__getitem__)
    assert by_id[: len(first)] == first, "the README's examples use these ids"
    assert set(seeded.patients) == {
        "Alice Ready",
        "Ben Landline",
        "Carla Nobody",
        "Dan Stopped",
        "Erin Booked",
        "Fay Unsubscribed",
        "Gina Informed",
        "Maya Patel",
        "Luis Ortega",
        "Tom Becker",
        "Rachel Kim",
        "Nora Quinn",
        "Unknown sender",
        "Sam Setup",
    }


# (patient, channel, kind) -> the checks that fail, as the seed's docstring says.
DOCUMENTED: list[tuple[str, Channel, tuple[SendKind, ...], set[str]]] = [
    ("Alice Ready", Channel.LEAD, ALL_KINDS, set()),
    ("Alice Ready", Channel.CLINIC, ALL_KINDS, set()),
    ("Ben Landline", Channel.CLINIC, (SendKind.MANUAL,), {"phone"}),
    ("Carla Nobody", Channel.CLINIC, (SendKind.MANUAL,), {"consent"}),
    ("Dan Stopped", Channel.CLINIC, (SendKind.MANUAL,), {"consent"}),
    ("Erin Booked", Channel.LEAD, (SendKind.MANUAL,), {"lead_stage"}),
    ("Erin Booked", Channel.CLINIC, (SendKind.MANUAL,), set()),
    ("Fay Unsubscribed", Channel.CLINIC, ALL_KINDS, {"consent"}),
    ("Gina Informed", Channel.CLINIC, (SendKind.CAMPAIGN,), {"consent"}),
    ("Gina Informed", Channel.CLINIC, (SendKind.MANUAL, SendKind.AUTOMATED), set()),
    ("Maya Patel", Channel.LEAD, ALL_KINDS, set()),
    ("Maya Patel", Channel.CLINIC, ALL_KINDS, set()),
    ("Luis Ortega", Channel.LEAD, (SendKind.MANUAL, SendKind.AUTOMATED), set()),
    ("Luis Ortega", Channel.CLINIC, (SendKind.MANUAL, SendKind.AUTOMATED), set()),
    ("Luis Ortega", Channel.CLINIC, (SendKind.CAMPAIGN,), {"consent"}),
    ("Tom Becker", Channel.LEAD, (SendKind.MANUAL,), {"phone"}),
    ("Tom Becker", Channel.CLINIC, (SendKind.MANUAL,), {"phone"}),
    ("Rachel Kim", Channel.LEAD, (SendKind.MANUAL,), {"lead_stage"}),
    ("Rachel Kim", Channel.CLINIC, (SendKind.MANUAL,), set()),
    ("Nora Quinn", Channel.CLINIC, (SendKind.MANUAL,), set()),
    ("Nora Quinn", Channel.LEAD, (SendKind.MANUAL,), {"lead_stage"}),
    ("Unknown sender", Channel.CLINIC, (SendKind.MANUAL,), set()),
    ("Unknown sender", Channel.CLINIC, (SendKind.AUTOMATED,), {"consent"}),
]


def test_each_demo_patient_fails_the_check_the_docstring_says(
    factory: sessionmaker[Session], seeded: demo.DemoSeed
) -> None:
    with factory() as session:
        for name, channel, kinds, expected in DOCUMENTED:
            for kind in kinds:
                got = _failing(session, seeded.org_id, seeded.patients[name], channel, kind)
                assert got == expected, (name, channel, kind)
        sam = seeded.patients["Sam Setup"]
        assert _failing(session, seeded.setup_org_id, sam, Channel.CLINIC, SendKind.MANUAL) == {
            "sms_enabled",
            "sender_number",
            "spend_limit",
        }


def test_dan_stopped_by_texting_stop_and_only_he_can_opt_back_in(
    factory: sessionmaker[Session], seeded: demo.DemoSeed
) -> None:
    dan = seeded.patients["Dan Stopped"]
    with factory() as session:
        texts = _messages(session, seeded.org_id, dan)
        assert [(m.direction, m.kind, m.body, m.status) for m in texts][1:] == [
            ("inbound", "manual", "STOP", "received"),
            ("outbound", "keyword_reply", texts[2].body, "delivered"),
        ]
        assert "Demo Clinic" in texts[2].body
        assert texts[0].direction == "outbound" and texts[0].status == "delivered"
        view = consent.view(session, seeded.org_id, dan)
        assert view.consent.state is ConsentState.OPTED_OUT
        assert view.history[-1].source == "keyword"
        assert "STOP" in view.history[-1].evidence
        verdict = evaluate_patient(
            session, seeded.org_id, dan, Channel.CLINIC, SendKind.MANUAL, now=utcnow()
        )
        check = next(c for c in verdict.checks if c.id == "consent")
        assert "START" in (check.fix or "")


def test_fay_unsubscribed_from_a_campaign_and_staff_may_record_a_new_opt_in(
    factory: sessionmaker[Session], seeded: demo.DemoSeed
) -> None:
    fay = seeded.patients["Fay Unsubscribed"]
    with factory() as session:
        (campaign,) = _messages(session, seeded.org_id, fay)
        assert (campaign.kind, campaign.status) == ("campaign", "delivered")
        view = consent.view(session, seeded.org_id, fay)
        assert view.consent.state is ConsentState.OPTED_OUT
        assert not view.consent.locked_by_patient
        assert [r.source for r in view.history] == ["web_form", "campaign"]
        assert view.history[-1].at > campaign.created_at
        verdict = evaluate_patient(
            session, seeded.org_id, fay, Channel.CLINIC, SendKind.MANUAL, now=utcnow()
        )
        check = next(c for c in verdict.checks if c.id == "consent")
        assert "campaign" in check.detail
        assert "new opt-in" in (check.fix or "")


def test_the_inbox_has_unread_replies_one_to_review_and_one_unknown_sender(
    factory: sessionmaker[Session], seeded: demo.DemoSeed
) -> None:
    with factory() as session:
        people = _patients(session, seeded.org_id)
        unread = {name for name, p in people.items() if p.unread_count > 0}
        assert unread == {"Luis Ortega", "Nora Quinn", "Unknown sender"}
        review = {name: p for name, p in people.items() if p.review_flag is not None}
        assert set(review) == {"Nora Quinn"}
        nora = review["Nora Quinn"]
        flagged = session.get(Message, nora.review_message_id)
        assert flagged is not None and flagged.direction == "inbound"
        assert detect_revocation(flagged.body).likely
        assert "stop texting me" in (nora.review_phrase or "")
        assert consent.view(session, seeded.org_id, nora.id).consent.state is (
            ConsentState.OPTED_IN
        )
        unknown = [p for p in people.values() if p.unknown_sender]
        assert [p.phone for p in unknown] == [demo.UNKNOWN_SENDER_PHONE]
        (asked,) = _messages(session, seeded.org_id, unknown[0].id)
        assert asked.direction == "inbound" and "new patients" in asked.body


def test_failed_texts_say_why_and_what_to_do(
    factory: sessionmaker[Session], seeded: demo.DemoSeed
) -> None:
    with factory() as session:
        ctx = messages.diagnosis_context(session, seeded.org_id, utcnow())
        failed = [
            d
            for d in messages.with_details(session, _messages(session, seeded.org_id))
            if label(Status(d.message.status)) is Label.FAILED
        ]
        codes = {d.message.error_code for d in failed}
        assert codes == {"30006", "30007"}
        for detail in failed:
            found = messages.diagnosis(detail, ctx)
            assert found is not None
            entry = lookup(detail.message.error_code)
            assert entry is not None
            assert found.fix == entry.fix
            assert f"error {entry.code}" in found.summary
            assert [e.status for e in detail.events] == [
                "queued",
                "sending",
                "sent",
                "undelivered",
            ]
        tom = session.get(Patient, seeded.patients["Tom Becker"])
        assert tom is not None and tom.phone_status == "landline"
        assert "30006" in tom.phone_reason


def test_pending_texts_have_a_reason_a_person_can_read_and_are_never_due_now(
    factory: sessionmaker[Session], seeded: demo.DemoSeed
) -> None:
    now = utcnow()
    with factory() as session:
        ctx = messages.diagnosis_context(session, seeded.org_id, now)
        pending = [
            d
            for d in messages.with_details(session, _messages(session, seeded.org_id))
            if Status(d.message.status) in PENDING
        ]
        reasons = {}
        for detail in pending:
            found = messages.diagnosis(detail, ctx)
            assert found is not None and found.fix
            reasons[detail.message.status] = found.summary
        assert set(reasons) == {"scheduled", "sent"}
        assert "frequency cap" in reasons["scheduled"]
        assert "not confirmed delivery" in reasons["sent"]
        held = next(d.message for d in pending if d.message.status == "scheduled")
        assert held.due_at is not None and held.due_at > now
    # What the dispatcher would claim right now: nothing.
    with factory() as session:
        claims = claim_due(
            session, "test", now, limit=100, lease=timedelta(seconds=60), horizon=timedelta(0)
        )
        session.rollback()
    assert claims == []


def test_the_lead_dashboard_has_a_lead_in_every_stage(
    factory: sessionmaker[Session], seeded: demo.DemoSeed
) -> None:
    with factory() as session:
        rows = session.execute(
            select(Lead.stage, func.count())
            .where(Lead.organization_id == seeded.org_id)
            .group_by(Lead.stage)
        ).all()
        assert {LeadStage(stage) for stage, _ in rows} == set(LeadStage)
        won = leads.view(session, seeded.org_id, seeded.patients["Erin Booked"])
        assert won.lead is not None and won.lead.substatus == "scheduled"
        assert [c.stage for c in won.history] == ["open", "in_progress", "closed_won"]
        lost = leads.view(session, seeded.org_id, seeded.patients["Rachel Kim"])
        assert lost.lead is not None and lost.lead.reason
        for name in ("Maya Patel", "Luis Ortega", "Tom Becker"):
            ledger = consent.view(session, seeded.org_id, seeded.patients[name]).history
            assert [r.source for r in ledger] == ["web_form"]
            assert "form" in ledger[0].evidence
            history = leads.view(session, seeded.org_id, seeded.patients[name]).history
            assert (
                history[0].at
                <= _messages(session, seeded.org_id, seeded.patients[name])[0].created_at
            )


def test_a_closed_lead_texting_the_lead_number_gets_the_clinic_auto_reply(
    factory: sessionmaker[Session], seeded: demo.DemoSeed
) -> None:
    with factory() as session:
        texts = _messages(session, seeded.org_id, seeded.patients["Erin Booked"])
        kinds = [(m.direction, m.kind, m.channel) for m in texts]
        at = kinds.index(("outbound", "auto_reply", "lead"))
        assert kinds[at - 1] == ("inbound", "manual", "lead")
        assert demo.CLINIC_NUMBER.removeprefix("+1")[-4:] in texts[at].body
        assert texts[at].status == "delivered"
        # The staff answer on the clinic channel: accepted, never confirmed by the carrier.
        staff = [m for m in texts if (m.direction, m.kind) == ("outbound", "manual")]
        assert (staff[-1].channel, staff[-1].status) == ("clinic", "sent")


def test_the_connector_is_up_with_the_outage_error_to_acknowledge(
    factory: sessionmaker[Session], seeded: demo.DemoSeed
) -> None:
    now = utcnow()
    with factory() as session:
        status = connector.status(session, seeded.org_id, now)
        assert status.view.state == "up"
        assert status.view.last_success_at is not None
        assert status.pending == 2
        (error,) = status.errors
        assert error.acknowledged_at is None and error.occurrences > 1
        assert "unreachable" in error.message
        retried = [
            d
            for d in messages.with_details(session, _messages(session, seeded.org_id))
            if [e.status for e in d.events].count("sending") == 2
        ]
        assert len(retried) == 1
        assert retried[0].message.status == "delivered"
        assert "unreachable" in (retried[0].events[2].detail or "")


def test_every_text_keeps_the_invariants_of_a_real_one(
    factory: sessionmaker[Session], seeded: demo.DemoSeed
) -> None:
    now = utcnow()
    with factory() as session:
        rows = _messages(session, seeded.org_id)
        created = [m.created_at for m in rows]
        assert created == sorted(created), "ids must grow with time, as in production"
        assert all(now - timedelta(days=10) <= at <= now for at in created)
        for detail in messages.with_details(session, rows):
            message, events = detail.message, detail.events
            assert events[0].status == (
                "received"
                if message.direction == "inbound"
                else ("scheduled" if message.status == "scheduled" else "queued")
            )
            assert events[0].at == message.created_at
            assert [e.at for e in events] == sorted(e.at for e in events)
            assert events[-1].status == message.status
            if Status(message.status) in FINAL and message.direction == "outbound":
                assert detail.attempts, "a text that went out has its provider call"
        logs = session.execute(
            select(Commlog.message_id, func.count())
            .where(Commlog.organization_id == seeded.org_id)
            .group_by(Commlog.message_id)
        ).all()
        assert sorted(logs) == sorted((m.id, 1) for m in rows)
        shown = commlogs.list_commlogs(session, seeded.org_id).items
        assert {commlogs.deletable(c) for c in shown} == {True, False}


def test_the_demo_has_templates_rules_appointments_and_a_draft_campaign(
    factory: sessionmaker[Session], seeded: demo.DemoSeed
) -> None:
    org_id = seeded.org_id
    with factory() as session:
        names = {t.name: t for t in session.scalars(select(Template))}
        assert set(names) == {"Appointment reminder", "Please confirm", "Spring cleaning"}
        assert "es" in names["Appointment reminder"].variants
        assert {(r.purpose, r.minutes_before) for r in session.scalars(select(Rule))} == {
            ("reminder", 24 * 60),
            ("confirmation", 48 * 60),
        }
        people = {
            p.id: f"{p.first_name} {p.last_name}" for p in _patients(session, org_id).values()
        }
        booked = {people[a.patient_id]: a for a in session.scalars(select(Appointment))}
        assert set(booked) == {
            "Erin Booked",
            "Ben Landline",
            "Carla Nobody",
            "Dan Stopped",
            "Rachel Kim",
        }
        # Erin confirmed by replying C, and was thanked with the date and time.
        assert booked["Erin Booked"].status == "confirmed"
        assert booked["Erin Booked"].confirmed_via == "reply"
        thanks = _messages(session, org_id, booked["Erin Booked"].patient_id)[-1]
        assert thanks.kind == "auto_reply" and "confirmed" in thanks.body
        assert thanks.status == Status.DELIVERED.value
        assert booked["Rachel Kim"].status == "canceled"
        texts = {
            (people[a.patient_id], t.state, t.reason or "")
            for t, a in session.execute(
                select(AppointmentText, Appointment).join(
                    Appointment, Appointment.id == AppointmentText.appointment_id
                )
            )
        }
        states = {(name, state) for name, state, _ in texts}
        assert ("Erin Booked", "planned") in states
        assert ("Rachel Kim", "canceled") in states
        reasons = {name: reason for name, state, reason in texts if state == "skipped"}
        assert "landline" in reasons["Ben Landline"]
        assert "opted in" in reasons["Carla Nobody"]
        assert "opted out" in reasons["Dan Stopped"]
        campaign = session.scalars(select(Campaign)).one()
        assert campaign.status == "draft"
        assert campaign.preview is not None
        assert campaign.preview["recipients"] >= 1
        assert campaign.preview["skip_reasons"]["consent"] >= 1
        # Nothing the automation wrote waits to be sent when the demo starts.
        assert not session.scalars(
            select(Message).where(
                Message.appointment_id.is_not(None), Message.status == Status.QUEUED.value
            )
        ).all()
