"""The demo clinic's templates, reminder and confirmation rules, appointments and a draft
campaign, written through the same services as the API, after its texting history.

What a visitor sees:
  Templates     an appointment reminder (with a Spanish version), a confirmation asking for
                C or the code, and a campaign text.
  Rules         a reminder one day before (not within 2 hours of the start) and a
                confirmation two days before (not within 4 hours).
  Appointments  Erin Booked in four days at 10:00, confirmed by her reply "C" a few
                minutes ago (read; the thank-you is in her conversation; her planned
                confirmation will be skipped as already confirmed, her reminder goes out
                the day before). Tomorrow, Ben Landline, Carla Nobody and Dan Stopped, whose
                texts are skipped with the reason (landline, no consent, opted out), and
                Rachel Kim's canceled visit, whose texts are canceled. Alice Ready asked for
                Thursday: booking her closes her lead as won.
  Campaigns     a draft "Spring cleaning" to every patient: its preview says who would
                receive it and why the others would not (most have no marketing consent).

The appointments are booked a few minutes before the demo starts, and one automation round
runs then, so every text already due is settled (skipped) and nothing waits to be sent.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from clinictext.services import appointments, campaigns, rules, templates
from clinictext.services.automation_round import run_round
from clinictext.services.clock import as_of
from clinictext.store.models import Appointment

if TYPE_CHECKING:
    from clinictext.services.demo import _History

REMINDER = (
    "Hi [FName], this is a reminder of your appointment at [OfficeName] on [ApptDate] at "
    "[ApptTime]. Questions? Call [OfficePhone]."
)
REMINDER_ES = (
    "Hola [FName], le recordamos su cita en [OfficeName] el [ApptDate] a las [ApptTime]. "
    "¿Preguntas? Llame al [OfficePhone]."
)
CONFIRMATION = (
    "Hi [FName], please confirm your visit at [OfficeName] on [ApptDate] at [ApptTime]: "
    "reply C or [ConfirmCode]. To change it, call [OfficePhone]."
)
CAMPAIGN = (
    "Hi [FName], it has been a while since your last cleaning. Book a spring check-up at "
    "[OfficeName]: call [OfficePhone]."
)


def write(h: _History, clinic_number: str) -> None:
    """Templates, rules, appointments and a draft campaign for the demo clinic."""
    session, org_id, actor = h.session, h.org_id, h.staff
    with as_of(h.day(20, 9)):
        reminder = templates.create(
            session,
            org_id,
            name="Appointment reminder",
            purpose="reminder",
            body=REMINDER,
            variants={"es": REMINDER_ES},
            actor=actor,
        )
        confirmation = templates.create(
            session,
            org_id,
            name="Please confirm",
            purpose="confirmation",
            body=CONFIRMATION,
            actor=actor,
        )
        spring = templates.create(
            session, org_id, name="Spring cleaning", purpose="campaign", body=CAMPAIGN, actor=actor
        )
        rules.create(
            session,
            org_id,
            name="Reminder, one day before",
            purpose="reminder",
            minutes_before=24 * 60,
            do_not_send_within_minutes=120,
            template_id=reminder.id,
            actor=actor,
        )
        rules.create(
            session,
            org_id,
            name="Confirmation, two days before",
            purpose="confirmation",
            minutes_before=48 * 60,
            do_not_send_within_minutes=240,
            template_id=confirmation.id,
            actor=actor,
        )

    booked = h.ago(12)
    with h.at(booked):
        _book(h, "Erin Booked", 4, time(10, 0), "Dr. Chen", booked)
        _book(h, "Ben Landline", 1, time(9, 30), "Dr. Chen", booked)
        _book(h, "Carla Nobody", 1, time(11, 0), "Dr. Alvarez", booked)
        _book(h, "Dan Stopped", 1, time(14, 30), "Dr. Alvarez", booked)
        canceled = _book(h, "Rachel Kim", 3, time(15, 0), "Dr. Chen", booked)
        appointments.update(
            session, org_id, canceled.id, status="canceled", actor=actor, now=booked
        )
        run_round(session, booked)
    h.reply(h.ago(8), "Erin Booked", clinic_number, "C")
    h.read(h.ago(7), "Erin Booked")
    with h.at(h.ago(6)):
        campaigns.create(
            session,
            org_id,
            name="Spring cleaning",
            template_id=spring.id,
            audience={"all": True},
            actor=actor,
            now=h.ago(6),
        )


def _book(
    h: _History, name: str, days_ahead: int, at: time, provider: str, now: datetime
) -> Appointment:
    """An appointment at ``at``, clinic time, ``days_ahead`` days after today."""
    day = (h.now.astimezone(h.zone) + timedelta(days=days_ahead)).date()
    starts = datetime.combine(day, at, h.zone)
    return appointments.create(
        h.session,
        h.org_id,
        patient_id=h.ids[name],
        starts_at=starts,
        provider_name=provider,
        actor=h.staff,
        now=now,
    )
