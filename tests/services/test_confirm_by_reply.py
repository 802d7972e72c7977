"""Confirm by reply (SPEC §4): a patient's "C" or confirm code, received through
``inbound.receive``, confirms the right appointment and is answered once, from the number
the patient texted; keywords keep priority and an opted-out number gets nothing.

A frozen ``NOW``; every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.domain.checklist import Channel
from clinictext.domain.consent import ConsentState
from clinictext.domain.leads import LeadStage
from clinictext.providers.base import InboundText
from clinictext.services import appointments, consent, leads, numbers, orgs, patients
from clinictext.services.conversation_view import note_for
from clinictext.services.inbound import receive
from clinictext.store.db import transaction
from clinictext.store.models import Appointment, AuditEvent, Location, Message, Patient
from tests.support import seed_clinic

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
TOMORROW_10AM = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)  # 10:00 AM in New York (EST)
CLINIC_NUMBER = "+14155550100"
CLINIC_PHONE = "+14155550190"
_sids = count(1)


@dataclass
class Setup:
    factory: sessionmaker[Session]
    org_id: int
    ana: int  # phone +14155550123
    ben: int  # phone +14155550124


@pytest.fixture
def clinic(factory: sessionmaker[Session]) -> Setup:
    seeded = seed_clinic(factory, senders=(CLINIC_NUMBER,), patient_count=2, name="Smile Dental")
    with transaction(factory) as s:
        orgs.update_org(s, seeded.org_id, {"clinic_phone": CLINIC_PHONE}, "t")
    return Setup(factory, seeded.org_id, *seeded.patient_ids)


def book(setup: Setup, patient_id: int, at: datetime, **extra: object) -> Appointment:
    with transaction(setup.factory) as s:
        return appointments.create(
            s,
            setup.org_id,
            patient_id=patient_id,
            starts_at=at,
            actor="t",
            now=NOW - timedelta(days=1),
            **extra,  # type: ignore[arg-type]
        )


def text_in(
    setup: Setup, body: str, phone: str = "+14155550123", sid: str | None = None
) -> list[Message]:
    """The patient at ``phone`` texts ``body`` to the clinic number at ``NOW``; the replies."""
    inbound = InboundText(sid or f"SMin{next(_sids)}", phone, CLINIC_NUMBER, body, 1)
    with transaction(setup.factory) as s:
        return receive(s, inbound, NOW).replies


def appointment(setup: Setup, appointment_id: int) -> Appointment:
    with setup.factory() as s:
        row = s.get(Appointment, appointment_id)
        assert row is not None
        return row


def status(setup: Setup, appointment_id: int) -> str:
    return appointment(setup, appointment_id).status


def audit_actions(setup: Setup, action: str) -> list[AuditEvent]:
    with setup.factory() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# --- "C" ------------------------------------------------------------------------------------


def test_c_confirms_the_next_appointment_and_thanks_with_its_date_and_time(
    clinic: Setup,
) -> None:
    first = book(clinic, clinic.ana, TOMORROW_10AM)
    later = book(clinic, clinic.ana, TOMORROW_10AM + timedelta(days=7))

    replies = text_in(clinic, " c. ")

    assert status(clinic, first.id) == "confirmed"
    assert status(clinic, later.id) == "scheduled"
    row = appointment(clinic, first.id)
    assert (row.confirmed_at, row.confirmed_via) == (NOW, "reply")
    assert len(replies) == 1
    reply = replies[0]
    assert reply.body == (
        "Smile Dental: Thank you! Your appointment on Tue, Mar 3 at 10:00 AM is confirmed."
    )
    assert (reply.kind, reply.direction, reply.status) == ("auto_reply", "outbound", "queued")
    assert (reply.from_phone, reply.to_phone) == (CLINIC_NUMBER, "+14155550123")
    [event] = audit_actions(clinic, "appointment.confirmed")
    assert (event.actor, event.entity_id) == ("patient", first.id)
    assert event.data["via"] == "reply"
    assert event.data["message_id"] is not None


def test_each_c_confirms_the_next_unconfirmed_then_says_already_confirmed(
    clinic: Setup,
) -> None:
    first = book(clinic, clinic.ana, TOMORROW_10AM)
    later = book(clinic, clinic.ana, TOMORROW_10AM + timedelta(days=7))
    text_in(clinic, "C")
    second = text_in(clinic, "Confirmed!")
    assert status(clinic, later.id) == "confirmed"
    assert "Tue, Mar 10 at 11:00 AM is confirmed" in second[0].body  # 15:00 UTC is EDT by then
    third = text_in(clinic, "confirm")
    assert third[0].body == (
        "Smile Dental: Your appointment on Tue, Mar 3 at 10:00 AM is already confirmed. Thank you!"
    )
    assert len(audit_actions(clinic, "appointment.confirmed")) == 2
    assert status(clinic, first.id) == "confirmed"


def test_c_ignores_past_and_canceled_appointments(clinic: Setup) -> None:
    canceled = book(clinic, clinic.ana, TOMORROW_10AM)
    with transaction(clinic.factory) as s:
        appointments.update(s, clinic.org_id, canceled.id, status="canceled", actor="t", now=NOW)
    past = book(clinic, clinic.ana, NOW - timedelta(hours=20) + timedelta(days=1))
    with transaction(clinic.factory) as s:
        row = s.get(Appointment, past.id)
        assert row is not None
        row.starts_at = NOW - timedelta(hours=1)
    replies = text_in(clinic, "C")
    assert replies[0].body == (
        "Smile Dental: We could not match that to an appointment. Please call (415) 555-0190."
    )
    assert (status(clinic, canceled.id), status(clinic, past.id)) == ("canceled", "scheduled")
    [unmatched] = audit_actions(clinic, "appointment.confirmation_unmatched")
    assert (unmatched.entity, unmatched.entity_id) == ("patient", clinic.ana)


# --- codes ----------------------------------------------------------------------------------


def test_a_code_confirms_the_appointment_it_names_even_if_not_the_next(clinic: Setup) -> None:
    first = book(clinic, clinic.ana, TOMORROW_10AM)
    later = book(clinic, clinic.ana, TOMORROW_10AM + timedelta(days=7))
    code = later.confirm_code
    replies = text_in(clinic, f"{code[:3].lower()}-{code[3:].lower()}")
    assert (status(clinic, first.id), status(clinic, later.id)) == ("scheduled", "confirmed")
    assert "Mar 10" in replies[0].body


def test_another_patients_code_matches_nothing(clinic: Setup) -> None:
    bens = book(clinic, clinic.ben, TOMORROW_10AM)
    replies = text_in(clinic, bens.confirm_code)
    assert status(clinic, bens.id) == "scheduled"
    assert "We could not match that to an appointment. Please call (415) 555-0190." in (
        replies[0].body
    )


def test_a_wrong_code_gets_the_please_call_answer(clinic: Setup) -> None:
    mine = book(clinic, clinic.ana, TOMORROW_10AM)
    wrong = "AC37RK" if mine.confirm_code != "AC37RK" else "AC37RM"
    replies = text_in(clinic, wrong)
    assert status(clinic, mine.id) == "scheduled"
    assert "Please call (415) 555-0190." in replies[0].body


def test_without_a_clinic_phone_the_answer_says_to_call_the_office(clinic: Setup) -> None:
    with transaction(clinic.factory) as s:
        orgs.update_org(s, clinic.org_id, {"clinic_phone": None}, "t")
    assert text_in(clinic, "C")[0].body.endswith("Please call the office.")


def test_the_time_is_told_in_the_locations_zone_with_its_name(clinic: Setup) -> None:
    with transaction(clinic.factory) as s:
        loc = Location(
            organization_id=clinic.org_id,
            name="Westside",
            timezone="America/Los_Angeles",
            created_at=NOW,
        )
        s.add(loc)
        s.flush()
        location_id = loc.id
    book(clinic, clinic.ana, TOMORROW_10AM, location_id=location_id)
    replies = text_in(clinic, "C")
    assert replies[0].body == (
        "Smile Dental: Thank you! Your appointment on Tue, Mar 3 at 7:00 AM at Westside is "
        "confirmed."
    )


# --- what wins, what is sent, what stays ------------------------------------------------------


def test_keywords_keep_priority(clinic: Setup) -> None:
    appt = book(clinic, clinic.ana, TOMORROW_10AM)
    replies = text_in(clinic, "YES")  # the carrier's opt-in keyword, not a confirmation
    assert status(clinic, appt.id) == "scheduled"
    assert all(r.kind == "keyword_reply" for r in replies)
    replies = text_in(clinic, "STOP")
    assert status(clinic, appt.id) == "scheduled"
    assert [r.kind for r in replies] == ["keyword_reply"]


def test_an_opted_out_patient_who_texts_c_is_confirmed_but_sent_nothing(clinic: Setup) -> None:
    appt = book(clinic, clinic.ana, TOMORROW_10AM)
    text_in(clinic, "STOP")
    replies = text_in(clinic, "C")
    assert replies == []
    assert status(clinic, appt.id) == "confirmed"
    with clinic.factory() as s:
        state = consent.current(s, clinic.org_id, "+14155550123").state
        outbound = list(
            s.scalars(
                select(Message.kind).where(
                    Message.direction == "outbound", Message.patient_id == clinic.ana
                )
            )
        )
    assert state is ConsentState.OPTED_OUT
    assert outbound == ["keyword_reply"]  # the one opt-out confirmation, nothing more


def test_the_same_webhook_twice_confirms_once_and_answers_once(clinic: Setup) -> None:
    appt = book(clinic, clinic.ana, TOMORROW_10AM)
    first = text_in(clinic, "C", sid="SMtwice")
    again = text_in(clinic, "C", sid="SMtwice")
    assert (len(first), again) == (1, [])
    assert status(clinic, appt.id) == "confirmed"
    assert len(audit_actions(clinic, "appointment.confirmed")) == 1
    with clinic.factory() as s:
        answers = s.scalars(select(Message).where(Message.kind == "auto_reply")).all()
    assert len(answers) == 1


def test_the_reply_stays_in_the_conversation_unread(clinic: Setup) -> None:
    book(clinic, clinic.ana, TOMORROW_10AM)
    text_in(clinic, "C")
    with clinic.factory() as s:
        patient = s.get(Patient, clinic.ana)
        assert patient is not None
        inbound = s.scalars(
            select(Message).where(Message.patient_id == clinic.ana, Message.direction == "inbound")
        ).all()
    assert patient.unread_count == 1
    assert [m.body for m in inbound] == ["C"]


def test_other_texts_are_not_confirmations(clinic: Setup) -> None:
    appt = book(clinic, clinic.ana, TOMORROW_10AM)
    for body in ("Can I come at 3?", "OK", "Thanks", "yes C"):
        assert text_in(clinic, body) == []
    assert status(clinic, appt.id) == "scheduled"


def test_an_unknown_sender_who_texts_c_is_asked_to_call(clinic: Setup) -> None:
    replies = text_in(clinic, "C", phone="+14155550177")
    assert len(replies) == 1
    assert "We could not match that to an appointment." in replies[0].body
    with clinic.factory() as s:
        stranger = s.get(Patient, replies[0].patient_id)
        assert stranger is not None and stranger.unknown_sender


def test_staff_confirmation_through_the_service_is_audited_as_staff(clinic: Setup) -> None:
    appt = book(clinic, clinic.ana, TOMORROW_10AM)
    with transaction(clinic.factory) as s:
        row = appointments.update(
            s, clinic.org_id, appt.id, status="confirmed", actor="user:7", now=NOW
        )
        assert row.confirmed_via == "staff"
    [event] = audit_actions(clinic, "appointment.confirmed")
    assert (event.actor, event.data["via"]) == ("user:7", "staff")


def test_a_patient_without_consent_still_gets_the_answer_like_help(clinic: Setup) -> None:
    with transaction(clinic.factory) as s:
        pid = patients.create_patient(
            s, clinic.org_id, first_name="Cy", last_name="New", phone="+14155550160", actor="t"
        ).id
    book(clinic, pid, TOMORROW_10AM)
    replies = text_in(clinic, "C", phone="+14155550160")
    assert len(replies) == 1 and "is confirmed" in replies[0].body


# --- on the lead number ----------------------------------------------------------------------

LEAD_NUMBER = "+15005550006"


def test_c_to_the_lead_number_from_a_closed_lead_gets_only_the_thank_you(clinic: Setup) -> None:
    """Booking closes the lead, so a "C" sent to the lead number must not also draw the
    closed-lead auto-reply; and the thank-you does not use up that auto-reply's daily turn."""
    with transaction(clinic.factory) as s:
        numbers.add_number(s, clinic.org_id, LEAD_NUMBER, Channel.LEAD, "long_code", 1, "t")
        leads.set_stage(s, clinic.org_id, clinic.ana, LeadStage.OPEN, actor="t")
    booked = book(clinic, clinic.ana, TOMORROW_10AM)
    assert _stage(clinic, clinic.ana) == LeadStage.CLOSED_WON.value

    [thanks] = _text_lead_number(clinic, "C")
    assert "Thank you" in thanks.body
    assert thanks.appointment_id == booked.id
    assert status(clinic, booked.id) == "confirmed"

    [auto_reply] = _text_lead_number(clinic, "Can I bring my son too?")
    assert "contact" in auto_reply.body.lower() or "call" in auto_reply.body.lower()
    assert auto_reply.appointment_id is None


def _text_lead_number(setup: Setup, body: str) -> list[Message]:
    inbound = InboundText(f"SMin{next(_sids)}", "+14155550123", LEAD_NUMBER, body, 1)
    with transaction(setup.factory) as s:
        return receive(s, inbound, NOW).replies


def _stage(setup: Setup, patient_id: int) -> str:
    with setup.factory() as s:
        lead = leads.get_lead(s, setup.org_id, patient_id)
        assert lead is not None
        return lead.stage


def test_the_conversation_marks_a_confirmation_reply_in_words(clinic: Setup) -> None:
    book(clinic, clinic.ana, TOMORROW_10AM)
    text_in(clinic, "Confirm!")
    text_in(clinic, "See you then")
    with clinic.factory() as s:
        received = s.scalars(
            select(Message).where(Message.direction == "inbound").order_by(Message.id)
        ).all()
        assert [note_for(m) for m in received] == ["Appointment confirmation reply", None]
