"""Tests for clinictext.domain.automation: when a rule's text is due and what a round does.

Every time is a plain value: an appointment at 15:30 UTC on 1 December 2026, and rounds
at chosen moments around it. No test reads the clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinictext.domain.automation import (
    MINUTES_BEFORE_MAX,
    Decision,
    RuleRefused,
    Verb,
    check_rule,
    deadline,
    decide,
    due_at,
    held_too_late_reason,
    late_reason,
    span,
)

START = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)
DAY = 24 * 60


def at(minutes_before_start: int) -> datetime:
    return START - timedelta(minutes=minutes_before_start)


def decision(
    now: datetime,
    *,
    status: str = "scheduled",
    confirmed: bool = False,
    purpose: str = "reminder",
    minutes_before: int = DAY,
    margin: int = 60,
    planned_at: datetime | None = None,
    rule_active: bool = True,
) -> Decision:
    return decide(
        now=now,
        starts_at=START,
        appointment_status=status,
        confirmed=confirmed,
        purpose=purpose,
        minutes_before=minutes_before,
        margin=margin,
        planned_at=planned_at,
        rule_active=rule_active,
    )


def test_due_time_is_the_start_minus_the_offset() -> None:
    assert due_at(START, DAY) == datetime(2026, 11, 30, 15, 30, tzinfo=UTC)
    assert deadline(START, 60) == datetime(2026, 12, 1, 14, 30, tzinfo=UTC)


def test_a_text_not_yet_due_waits() -> None:
    assert decision(at(DAY + 1)) == Decision(Verb.WAIT)


def test_a_text_is_sent_at_its_due_time() -> None:
    assert decision(at(DAY)) == Decision(Verb.SEND)


def test_a_text_whose_time_has_passed_but_is_outside_the_margin_goes_now() -> None:
    assert decision(at(61), planned_at=at(120)) == Decision(Verb.SEND)


def test_a_text_inside_the_margin_is_skipped_naming_the_late_booking() -> None:
    d = decision(at(30), planned_at=at(30))
    assert d.verb is Verb.SKIP
    assert d.reason == (
        "The appointment was booked 30 minutes before it starts, inside the 60-minute "
        "do-not-send margin."
    )


def test_a_text_that_reaches_the_margin_late_says_how_little_time_was_left() -> None:
    d = decision(at(45), planned_at=at(2 * DAY))
    assert d.verb is Verb.SKIP
    assert d.reason == (
        "Only 45 minutes were left before the appointment when the text could go out, "
        "inside the 60-minute do-not-send margin."
    )


def test_the_margin_begins_exactly_at_its_boundary() -> None:
    assert decision(at(60)).verb is Verb.SKIP
    assert decision(at(60) - timedelta(seconds=1)).verb is Verb.SEND


def test_after_the_start_the_text_is_skipped() -> None:
    d = decision(START + timedelta(minutes=5), margin=0)
    assert d == Decision(
        Verb.SKIP, "The appointment had already started when the text could go out."
    )


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("canceled", "The appointment was canceled."),
        ("completed", "The appointment is completed."),
        ("no_show", "The appointment was marked as a no-show."),
    ],
)
def test_an_appointment_that_will_not_happen_cancels_its_text(status: str, reason: str) -> None:
    assert decision(at(DAY), status=status) == Decision(Verb.CANCEL, reason)
    assert decision(at(2 * DAY), status=status).verb is Verb.CANCEL  # even before it is due


def test_a_rule_turned_off_cancels_its_text() -> None:
    assert decision(at(DAY), rule_active=False).verb is Verb.CANCEL


def test_a_confirmation_for_a_confirmed_appointment_is_skipped_as_already_confirmed() -> None:
    d = decision(at(DAY), purpose="confirmation", confirmed=True, status="confirmed")
    assert d.verb is Verb.SKIP
    assert d.reason is not None and d.reason.startswith("Already confirmed")


def test_a_reminder_for_a_confirmed_appointment_is_still_sent() -> None:
    assert decision(at(DAY), confirmed=True, status="confirmed").verb is Verb.SEND


def test_without_a_margin_a_text_may_go_until_the_start() -> None:
    assert decision(at(1), margin=0).verb is Verb.SEND


@pytest.mark.parametrize(
    ("minutes", "words"),
    [
        (0, "0 minutes"),
        (1, "1 minute"),
        (45, "45 minutes"),
        (60, "1 hour"),
        (90, "1 hour 30 minutes"),
        (DAY, "1 day"),
        (2 * DAY + 61, "2 days 1 hour 1 minute"),
    ],
)
def test_spans_are_said_as_staff_say_them(minutes: int, words: str) -> None:
    assert span(minutes) == words


@pytest.mark.parametrize(
    ("purpose", "before", "margin", "field", "says"),
    [
        ("reminder", -5, 0, "minutes_before", "between 1 and 43,200 (30 days)"),
        ("reminder", 0, 0, "minutes_before", "between 1 and 43,200"),
        ("reminder", MINUTES_BEFORE_MAX + 1, 0, "minutes_before", "outside that range"),
        ("reminder", 1440, -1, "do_not_send_within_minutes", "cannot be negative"),
        ("reminder", 60, 60, "do_not_send_within_minutes", "at most 59"),
        ("reminder", 60, 600, "do_not_send_within_minutes", "must be less than"),
        ("birthday", 60, 0, "purpose", "'reminder' or 'confirmation'"),
    ],
)
def test_absurd_rules_are_refused_naming_the_field_and_the_allowed_range(
    purpose: str, before: int, margin: int, field: str, says: str
) -> None:
    with pytest.raises(RuleRefused) as caught:
        check_rule(purpose, before, margin)
    assert caught.value.field == field
    assert says in str(caught.value)


def test_sensible_rules_are_accepted() -> None:
    check_rule("reminder", 1440, 60)
    check_rule("confirmation", 2880, 0)
    check_rule("reminder", MINUTES_BEFORE_MAX, MINUTES_BEFORE_MAX - 1)


def test_late_reason_for_a_booking_after_the_start() -> None:
    reason = late_reason(START, 60, START + timedelta(minutes=1), START + timedelta(minutes=1))
    assert reason == "The appointment was booked after its start time, so no text was sent."


def test_held_too_late_reason_names_the_hold_and_the_margin() -> None:
    hold = "Held for the send window (08:00–21:00): goes out at 08:00 the patient's time."
    reason = held_too_late_reason(hold, at(30), START, 60)
    assert reason.startswith("Not sent: it would be held for the send window (08:00–21:00)")
    assert "30 minutes before the appointment starts, inside the 60-minute do-not-send margin" in (
        reason
    )


@given(
    minutes_before=st.integers(1, MINUTES_BEFORE_MAX),
    margin_share=st.floats(0, 0.999),
    offset=st.integers(-3 * MINUTES_BEFORE_MAX, 3 * MINUTES_BEFORE_MAX),
)
def test_a_text_is_sent_only_between_its_due_time_and_its_margin(
    minutes_before: int, margin_share: float, offset: int
) -> None:
    margin = min(int(minutes_before * margin_share), minutes_before - 1)
    now = START + timedelta(minutes=offset)
    verb = decision(now, minutes_before=minutes_before, margin=margin).verb
    due, last = due_at(START, minutes_before), deadline(START, margin)
    assert (verb is Verb.SEND) == (due <= now < last)
    assert (verb is Verb.WAIT) == (now < due)
