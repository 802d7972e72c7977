"""Appointment reminders and confirmations, and silent leads, on both databases.

Each test runs rounds of the automation at explicit moments (never the clock): the clinic
and its patient are in Los Angeles (a 415 number), the send window is 08:00–21:00 there,
and the appointment is on Wednesday 12 May 2027 at 10:00 local time (17:00 UTC).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.domain.checklist import Channel, SendKind
from clinictext.domain.consent import ConsentAction
from clinictext.domain.leads import LeadStage
from clinictext.services import (
    automation,
    confirmations,
    consent,
    lead_inactivity,
    leads,
    rules,
    sending,
    templates,
)
from clinictext.services.automation_round import run_round
from clinictext.services.clock import as_of
from clinictext.store.db import transaction
from clinictext.store.models import (
    Appointment,
    AppointmentText,
    AuditEvent,
    LeadStageChange,
    Message,
    Organization,
    Patient,
)
from tests.support import seed_clinic

LA = ZoneInfo("America/Los_Angeles")
START = datetime(2027, 5, 12, 10, 0, tzinfo=LA)
DAY = 24 * 60


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LA).astimezone(UTC)  # type: ignore[misc]


class Clinic:
    """A clinic in Los Angeles that can text, one opted-in patient, and helpers."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        seeded = seed_clinic(factory, name="Sunset Dental")
        self.org_id = seeded.org_id
        self.patient_id = seeded.patient_ids[0]
        with transaction(factory) as s:
            org = s.get(Organization, self.org_id)
            assert org is not None
            org.timezone = "America/Los_Angeles"
            org.clinic_phone = "+14155550100"
            # Two texts a day: a reminder and a confirmation may share one.
            org.automated_daily_cap = 2
        self._codes = iter(f"K{n:05d}" for n in range(10_000))
        self._names = iter(range(10_000))

    def template(self, purpose: str, body: str) -> int:
        with transaction(self.factory) as s:
            return templates.create(
                s,
                self.org_id,
                name=f"{purpose} {next(self._names)}",
                purpose=purpose,
                body=body,
                actor="t",
            ).id

    def rule(
        self,
        purpose: str = "reminder",
        minutes_before: int = DAY,
        margin: int = 60,
        body: str | None = None,
        now: datetime | None = None,
    ) -> int:
        body = body or (
            "Hi [FName], please confirm your visit on [ApptDate] at [ApptTime]: reply "
            "[ConfirmCode]."
            if purpose == "confirmation"
            else "Hi [FName], see you [ApptDate] at [ApptTime] at [OfficeName]."
        )
        template_id = self.template(purpose, body)
        with transaction(self.factory) as s:
            return rules.create(
                s,
                self.org_id,
                name=f"{purpose} {minutes_before}",
                purpose=purpose,
                minutes_before=minutes_before,
                do_not_send_within_minutes=margin,
                template_id=template_id,
                actor="t",
                now=now or local(2027, 5, 1, 9, 0),
            ).id

    def book(self, starts_at: datetime = START, booked_at: datetime | None = None) -> int:
        """An appointment, saved as the appointment service saves one, then planned."""
        booked_at = booked_at or local(2027, 5, 1, 9, 0)
        with transaction(self.factory) as s:
            appointment = Appointment(
                organization_id=self.org_id,
                patient_id=self.patient_id,
                starts_at=starts_at.astimezone(UTC),
                status="scheduled",
                confirm_code=next(self._codes),
                created_by="t",
                created_at=booked_at,
                updated_at=booked_at,
            )
            s.add(appointment)
            s.flush()
            automation.replan(s, appointment, booked_at)
            return appointment.id

    def move(self, appointment_id: int, starts_at: datetime, now: datetime) -> None:
        with transaction(self.factory) as s:
            appointment = s.get(Appointment, appointment_id)
            assert appointment is not None
            appointment.starts_at = starts_at.astimezone(UTC)
            appointment.updated_at = now
            automation.replan(s, appointment, now)

    def cancel(self, appointment_id: int, now: datetime) -> None:
        with transaction(self.factory) as s:
            appointment = s.get(Appointment, appointment_id)
            assert appointment is not None
            appointment.status = "canceled"
            automation.cancel_texts(s, appointment, now, "The appointment was canceled.")

    def other_automated_texts(self, count: int, now: datetime) -> None:
        """``count`` automated texts to the patient, written at ``now`` (not reminders)."""
        with transaction(self.factory) as s:
            for n in range(count):
                sending.queue_text(
                    s,
                    self.org_id,
                    self.patient_id,
                    Channel.CLINIC,
                    f"Your lab results are ready ({n}).",
                    actor="t",
                    send_kind=SendKind.AUTOMATED,
                    now=now,
                )

    def round(self, now: datetime) -> Any:
        with transaction(self.factory) as s:
            return run_round(s, now)

    def texts(self, appointment_id: int) -> dict[int, AppointmentText]:
        with self.factory() as s:
            return {
                t.rule_id: t
                for t in s.scalars(
                    select(AppointmentText).where(AppointmentText.appointment_id == appointment_id)
                )
            }

    def messages(self, appointment_id: int) -> list[Message]:
        with self.factory() as s:
            return list(
                s.scalars(
                    select(Message)
                    .where(Message.appointment_id == appointment_id)
                    .order_by(Message.id)
                )
            )


@pytest.fixture
def clinic(factory: sessionmaker[Session]) -> Iterator[Clinic]:
    yield Clinic(factory)


def test_a_reminder_and_a_confirmation_are_each_sent_once_when_due(clinic: Clinic) -> None:
    reminder = clinic.rule("reminder", DAY)
    confirmation = clinic.rule("confirmation", 2 * DAY)
    appointment = clinic.book()
    assert {t.state for t in clinic.texts(appointment).values()} == {"planned"}

    assert clinic.round(local(2027, 5, 10, 9, 59)).written == 0  # a minute early
    assert clinic.messages(appointment) == []

    assert clinic.round(local(2027, 5, 10, 10, 0)).sent == 1
    (asked,) = clinic.messages(appointment)
    assert asked.rule_id == confirmation and asked.kind == "automated"
    assert asked.status == "queued" and asked.channel == "clinic"
    code = clinic.texts(appointment)[confirmation]
    assert code.state == "queued" and code.message_id == asked.id
    assert "Wednesday, May 12 at 10:00 AM" in asked.body and "reply K0000" in asked.body

    for minute in (1, 30, 60 * 23):  # later rounds write nothing more
        assert clinic.round(local(2027, 5, 10, 10, 0) + timedelta(minutes=minute)).sent == 0
    assert clinic.round(local(2027, 5, 11, 10, 0)).sent == 1
    for minute in (0, 5, 120):
        assert clinic.round(local(2027, 5, 11, 10, 1) + timedelta(minutes=minute)).sent == 0

    sent = clinic.messages(appointment)
    assert [m.rule_id for m in sent] == [confirmation, reminder]
    assert sent[1].body == "Hi P0, see you Wednesday, May 12 at 10:00 AM at Sunset Dental."
    assert {t.state for t in clinic.texts(appointment).values()} == {"queued"}


def test_a_text_due_at_night_waits_for_the_send_window_in_the_patients_zone(
    clinic: Clinic,
) -> None:
    clinic.rule("reminder", DAY + 3 * 60 + 30)  # due 06:30 the day before, in Los Angeles
    appointment = clinic.book()
    assert clinic.round(local(2027, 5, 11, 6, 30)).sent == 1
    (held,) = clinic.messages(appointment)
    assert held.status == "scheduled"
    assert held.due_at == local(2027, 5, 11, 8, 0)  # 08:00 the patient's time


def test_a_text_whose_time_has_passed_goes_now_while_outside_the_margin(clinic: Clinic) -> None:
    clinic.rule("reminder", DAY, margin=60)
    booked = local(2027, 5, 12, 8, 0)  # two hours before: the reminder's time has passed
    appointment = clinic.book(booked_at=booked)
    assert clinic.round(booked + timedelta(seconds=5)).sent == 1
    assert clinic.messages(appointment)[0].status == "queued"


def test_a_text_inside_the_margin_is_skipped_with_its_reason_on_the_appointment(
    clinic: Clinic,
) -> None:
    rule_id = clinic.rule("reminder", DAY, margin=60)
    booked = local(2027, 5, 12, 9, 30)
    appointment = clinic.book(booked_at=booked)
    assert clinic.round(booked + timedelta(seconds=5)).skipped == 1
    text = clinic.texts(appointment)[rule_id]
    assert text.state == "skipped" and text.message_id is None
    assert text.reason == (
        "The appointment was booked 30 minutes before it starts, inside the 60-minute "
        "do-not-send margin."
    )
    assert clinic.messages(appointment) == []


def test_a_text_the_send_window_would_hold_into_the_margin_is_skipped_not_sent_late(
    clinic: Clinic,
) -> None:
    rule_id = clinic.rule("reminder", DAY, margin=60)
    booked = local(2027, 5, 11, 22, 0)  # 22:00 for 08:30 tomorrow: the window opens at 08:00
    appointment = clinic.book(local(2027, 5, 12, 8, 30), booked_at=booked)
    assert clinic.round(booked + timedelta(seconds=5)).skipped == 1
    text = clinic.texts(appointment)[rule_id]
    assert text.state == "skipped"
    assert text.reason is not None
    assert text.reason.startswith("Not sent: it would be held for the send window")
    assert "30 minutes before the appointment starts, inside the 60-minute" in text.reason
    assert clinic.messages(appointment) == []


def test_an_opted_out_patient_is_skipped_with_the_consent_reason(clinic: Clinic) -> None:
    rule_id = clinic.rule()
    appointment = clinic.book()
    with transaction(clinic.factory) as s:
        consent.record(
            s,
            clinic.org_id,
            clinic.patient_id,
            action=ConsentAction.OPT_OUT,
            source="staff",
            actor="t",
        )
    assert clinic.round(local(2027, 5, 11, 10, 0)).skipped == 1
    text = clinic.texts(appointment)[rule_id]
    assert text.state == "skipped"
    assert text.reason is not None and "opted out" in text.reason
    assert clinic.messages(appointment) == []


def test_a_confirmation_for_an_appointment_already_confirmed_is_skipped(clinic: Clinic) -> None:
    rule_id = clinic.rule("confirmation", DAY)
    appointment = clinic.book()
    with transaction(clinic.factory) as s:
        row = s.get(Appointment, appointment)
        assert row is not None
        row.status, row.confirmed_at = "confirmed", local(2027, 5, 9, 12, 0)
    clinic.round(local(2027, 5, 11, 10, 0))
    text = clinic.texts(appointment)[rule_id]
    assert text.state == "skipped" and (text.reason or "").startswith("Already confirmed")


def test_a_moved_appointment_replans_its_text_and_still_sends_one(clinic: Clinic) -> None:
    rule_id = clinic.rule()
    appointment = clinic.book()
    clinic.move(appointment, datetime(2027, 5, 14, 15, 30, tzinfo=LA), local(2027, 5, 2, 9, 0))
    assert clinic.texts(appointment)[rule_id].due_at == local(2027, 5, 13, 15, 30)
    assert clinic.round(local(2027, 5, 11, 10, 0)).sent == 0  # the old time: nothing
    assert clinic.round(local(2027, 5, 13, 15, 30)).sent == 1
    (message,) = clinic.messages(appointment)
    assert "Friday, May 14 at 3:30 PM" in message.body


def test_a_text_written_but_not_handed_over_is_rewritten_for_the_new_time(
    clinic: Clinic,
) -> None:
    rule_id = clinic.rule("reminder", DAY + 3 * 60 + 30)
    appointment = clinic.book()
    clinic.round(local(2027, 5, 11, 6, 30))  # written, held until 08:00
    (held,) = clinic.messages(appointment)
    assert held.status == "scheduled"
    clinic.move(appointment, datetime(2027, 5, 13, 11, 0, tzinfo=LA), local(2027, 5, 11, 7, 0))
    (rewritten,) = clinic.messages(appointment)
    assert rewritten.id == held.id  # the same text, never a second
    assert "Thursday, May 13 at 11:00 AM" in rewritten.body
    assert rewritten.due_at == local(2027, 5, 12, 7, 30) + timedelta(minutes=30)  # window: 08:00
    text = clinic.texts(appointment)[rule_id]
    assert text.state == "queued" and text.due_at == local(2027, 5, 12, 7, 30)
    assert clinic.round(local(2027, 5, 12, 8, 0)).sent == 0
    assert len(clinic.messages(appointment)) == 1


def test_a_text_moved_to_another_day_keeps_within_that_days_frequency_cap(
    clinic: Clinic,
) -> None:
    rule_id = clinic.rule("reminder", DAY + 3 * 60 + 30)
    appointment = clinic.book()
    clinic.round(local(2027, 5, 11, 6, 30))  # written, held until 08:00 on the 11th
    (held,) = clinic.messages(appointment)
    # Two other automated texts go to the patient at 08:00 on the 12th: that day is full
    # (two a day).
    clinic.other_automated_texts(2, local(2027, 5, 12, 7, 45))
    clinic.move(appointment, datetime(2027, 5, 13, 11, 0, tzinfo=LA), local(2027, 5, 11, 7, 0))
    (rewritten,) = clinic.messages(appointment)
    assert rewritten.id == held.id and rewritten.status == "scheduled"
    # Not 08:00 on the 12th (a third that day): once the first two are a day old.
    assert rewritten.due_at == local(2027, 5, 13, 8, 0)
    assert clinic.texts(appointment)[rule_id].state == "queued"


def test_a_moved_text_is_not_counted_against_itself(clinic: Clinic) -> None:
    with transaction(clinic.factory) as s:
        org = s.get(Organization, clinic.org_id)
        assert org is not None
        org.automated_daily_cap = 1
    clinic.rule("reminder", DAY + 3 * 60 + 30)
    appointment = clinic.book()
    clinic.round(local(2027, 5, 11, 6, 30))  # written, held until 08:00 on the 11th
    # Moved to 15:00 on the 12th: due at 11:30 on the 11th. Counted at its old time, the
    # text itself would fill that day (one a day) and hold itself until the 12th.
    clinic.move(appointment, datetime(2027, 5, 12, 15, 0, tzinfo=LA), local(2027, 5, 11, 7, 0))
    (rewritten,) = clinic.messages(appointment)
    assert rewritten.due_at == local(2027, 5, 11, 11, 30)


def test_a_text_moved_into_a_full_day_that_would_go_too_late_is_skipped(clinic: Clinic) -> None:
    rule_id = clinic.rule("reminder", DAY + 3 * 60 + 30, margin=3 * 60)
    appointment = clinic.book()
    clinic.round(local(2027, 5, 11, 6, 30))
    clinic.other_automated_texts(2, local(2027, 5, 12, 7, 45))
    # Held by the cap until 08:00 on the 13th: inside three hours of a 11:00 visit.
    clinic.move(appointment, datetime(2027, 5, 13, 11, 0, tzinfo=LA), local(2027, 5, 11, 7, 0))
    (skipped,) = clinic.messages(appointment)
    assert skipped.status == "canceled"
    text = clinic.texts(appointment)[rule_id]
    assert text.state == "skipped"
    assert "frequency cap" in (text.reason or "")


def test_a_canceled_appointment_sends_nothing_more(clinic: Clinic) -> None:
    early = clinic.rule("reminder", DAY + 3 * 60 + 30)
    late = clinic.rule("reminder", 120, margin=30)
    appointment = clinic.book()
    clinic.round(local(2027, 5, 11, 6, 30))  # the early one written, held until 08:00
    clinic.cancel(appointment, local(2027, 5, 11, 7, 0))
    texts = clinic.texts(appointment)
    assert texts[early].state == "canceled" and texts[late].state == "canceled"
    assert texts[late].reason == "The appointment was canceled."
    (message,) = clinic.messages(appointment)
    assert message.status == "canceled"
    for day, hour in ((11, 8), (12, 8), (12, 9)):
        assert clinic.round(local(2027, 5, day, hour, 0)).sent == 0
    assert [m.status for m in clinic.messages(appointment)] == ["canceled"]


def test_rounds_twice_over_the_same_due_texts_write_one_message_each(clinic: Clinic) -> None:
    clinic.rule()
    with transaction(clinic.factory) as s:
        org = s.get(Organization, clinic.org_id)
        assert org is not None
        org.automated_daily_cap = org.automated_weekly_cap = 10  # six texts to one patient
    appointments = [clinic.book(START + timedelta(minutes=15 * i)) for i in range(6)]
    with transaction(clinic.factory) as s:
        first = run_round(s, local(2027, 5, 11, 12, 0))
        second = run_round(s, local(2027, 5, 11, 12, 0))
    assert (first.sent, second.sent, second.seen) == (6, 0, 0)
    with clinic.factory() as s:
        counted = s.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.appointment_id.in_(appointments))
        )
    assert counted == 6


def test_a_round_that_dies_before_its_commit_leaves_its_texts_planned(clinic: Clinic) -> None:
    rule_id = clinic.rule()
    appointment = clinic.book()
    with pytest.raises(RuntimeError), transaction(clinic.factory) as s:
        assert run_round(s, local(2027, 5, 11, 10, 0)).sent == 1
        raise RuntimeError("the worker died here")
    assert clinic.texts(appointment)[rule_id].state == "planned"
    assert clinic.messages(appointment) == []
    assert clinic.round(local(2027, 5, 11, 10, 0, 5)).sent == 1  # the next round sends it
    assert len(clinic.messages(appointment)) == 1


def test_turning_a_rule_off_cancels_its_planned_texts_and_on_plans_them_again(
    clinic: Clinic,
) -> None:
    rule_id = clinic.rule()
    appointment = clinic.book()
    with transaction(clinic.factory) as s:
        rules.update(s, clinic.org_id, rule_id, enabled=False, actor="t", now=local(2027, 5, 2, 9))
    text = clinic.texts(appointment)[rule_id]
    assert (text.state, text.reason) == ("canceled", "The rule was turned off.")
    assert clinic.round(local(2027, 5, 11, 10, 0)).sent == 0
    with transaction(clinic.factory) as s:
        rules.update(s, clinic.org_id, rule_id, enabled=True, actor="t", now=local(2027, 5, 3, 9))
    assert clinic.texts(appointment)[rule_id].state == "planned"
    assert clinic.round(local(2027, 5, 11, 10, 0)).sent == 1


def test_a_new_rule_is_planned_for_every_upcoming_appointment(clinic: Clinic) -> None:
    appointments = [clinic.book(START + timedelta(days=i)) for i in range(3)]
    past = clinic.book(local(2027, 4, 20, 10, 0), booked_at=local(2027, 4, 1, 9, 0))
    rule_id = clinic.rule(now=local(2027, 5, 1, 9, 0))
    for appointment in appointments:
        assert clinic.texts(appointment)[rule_id].state == "planned"
    assert clinic.texts(past) == {}


# --- silent leads ---------------------------------------------------------------------------


@pytest.fixture
def lead_clinic(factory: sessionmaker[Session]) -> tuple[int, list[int]]:
    seeded = seed_clinic(factory, patient_count=3, name="Lead Clinic")
    return seeded.org_id, seeded.patient_ids


def test_a_lead_silent_for_n_days_is_closed_as_lost_with_history_and_audit(
    factory: sessionmaker[Session], lead_clinic: tuple[int, list[int]]
) -> None:
    org_id, (silent, replied, recent) = lead_clinic
    long_ago = datetime(2027, 5, 1, 12, 0, tzinfo=UTC)
    now = long_ago + timedelta(days=8)
    with transaction(factory) as s:
        s.get(Organization, org_id).lead_inactivity_days = 7  # type: ignore[union-attr]
        with as_of(long_ago):
            for pid in (silent, replied):
                leads.set_stage(s, org_id, pid, LeadStage.OPEN, actor="t")
        with as_of(now - timedelta(days=2)):
            leads.set_stage(s, org_id, recent, LeadStage.IN_PROGRESS, actor="t")
        s.get(Patient, replied).last_inbound_at = now - timedelta(days=1)  # type: ignore[union-attr]
    with transaction(factory) as s:
        assert lead_inactivity.close_inactive(s, now) == 1
    with transaction(factory) as s:
        assert lead_inactivity.close_inactive(s, now) == 0  # once
        lead = leads.get_lead(s, org_id, silent)
        assert lead is not None
        assert (lead.stage, lead.reason) == ("closed_lost", "No reply in 7 days")
        assert lead.updated_at == now
        last = s.scalars(
            select(LeadStageChange)
            .where(LeadStageChange.patient_id == silent)
            .order_by(LeadStageChange.id.desc())
        ).first()
        assert last is not None and last.actor == "clinictext" and last.at == now
        assert s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.entity_id == silent, AuditEvent.actor == "clinictext")
        )
        for pid in (replied, recent):
            other = leads.get_lead(s, org_id, pid)
            assert other is not None and other.stage in ("open", "in_progress")


def test_without_an_inactivity_setting_no_lead_is_closed(
    factory: sessionmaker[Session], lead_clinic: tuple[int, list[int]]
) -> None:
    org_id, (pid, *_) = lead_clinic
    with transaction(factory) as s, as_of(datetime(2027, 1, 1, tzinfo=UTC)):
        leads.set_stage(s, org_id, pid, LeadStage.OPEN, actor="t")
    with transaction(factory) as s:
        assert lead_inactivity.close_inactive(s, datetime(2027, 6, 1, tzinfo=UTC)) == 0


def test_confirming_cancels_a_confirmation_request_written_but_not_yet_sent(
    clinic: Clinic,
) -> None:
    """Held for the send window, a "please confirm" text must not go out once the patient
    has confirmed (by reply, link or staff); a reminder of the same appointment still goes."""
    confirmation = clinic.rule("confirmation", DAY + 3 * 60 + 30)  # due 06:30: held to 08:00
    reminder = clinic.rule("reminder", DAY + 3 * 60 + 30)
    appointment = clinic.book()
    clinic.round(local(2027, 5, 11, 6, 30))
    held = {m.rule_id: m for m in clinic.messages(appointment)}
    assert {m.status for m in held.values()} == {"scheduled"}
    with transaction(clinic.factory) as s:
        row = s.get(Appointment, appointment)
        assert row is not None
        confirmations.confirm(s, row, via="reply", actor="patient", now=local(2027, 5, 11, 7, 0))
    after = {m.rule_id: m for m in clinic.messages(appointment)}
    assert after[confirmation].status == "canceled"
    assert after[reminder].status == "scheduled"
    text = clinic.texts(appointment)[confirmation]
    assert text.state == "canceled" and "confirmed" in (text.reason or "")
