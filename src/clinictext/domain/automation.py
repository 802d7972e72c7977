"""Appointment reminders and confirmations: when each rule's text is due, and what to do
with it at a given moment.

A rule says "send this template N minutes before each appointment, but never within M
minutes of its start". The margin exists because a reminder that arrives as the patient
walks in is noise, and one that arrives after the start is wrong. So a text whose time has
passed (the appointment was booked late, or the clinic was offline) still goes out while
it is outside the margin, and is skipped, with the reason in words, once it is inside.

Pure: no database and no clock. Every time is an argument, so these decisions are tested
as plain values and shared by the automation round, re-planning and the pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

# A rule's offset: at least a minute, at most 30 days before the appointment. A month
# ahead is the longest a clinic books a reminder for; beyond it the text would mostly
# reach patients who have long since moved their appointment.
MINUTES_BEFORE_MIN = 1
MINUTES_BEFORE_MAX = 30 * 24 * 60


class Purpose(StrEnum):
    REMINDER = "reminder"
    CONFIRMATION = "confirmation"


class Verb(StrEnum):
    WAIT = "wait"  # not due yet
    SEND = "send"  # due and outside the margin: write the text now
    SKIP = "skip"  # cannot be sent usefully any more; ``reason`` says why
    CANCEL = "cancel"  # the appointment will not happen (or the rule is off)


@dataclass(frozen=True)
class Decision:
    verb: Verb
    reason: str | None = None


# Appointment statuses after which no text is sent, and how staff say each.
ENDED = {
    "canceled": "The appointment was canceled.",
    "completed": "The appointment is completed.",
    "no_show": "The appointment was marked as a no-show.",
}
UPCOMING = frozenset({"scheduled", "confirmed"})


class RuleRefused(ValueError):
    """A rule that cannot be saved; ``field`` names the field to change."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def span(minutes: int) -> str:
    """A length of time as staff say it: '45 minutes', '1 hour 30 minutes', '2 days'."""
    minutes = max(0, minutes)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [
        f"{n} {unit}{'' if n == 1 else 's'}"
        for n, unit in ((days, "day"), (hours, "hour"), (mins, "minute"))
        if n
    ]
    return " ".join(parts) or "0 minutes"


def check_rule(purpose: str, minutes_before: int, margin: int) -> None:
    """Raise ``RuleRefused`` for offsets a rule cannot have.

    The margin must be shorter than the offset: a text due inside its own do-not-send
    margin could never go out, so such a rule is refused rather than saved to do nothing.
    """
    if purpose not in {p.value for p in Purpose}:
        raise RuleRefused("A rule's purpose must be 'reminder' or 'confirmation'.", field="purpose")
    if not MINUTES_BEFORE_MIN <= minutes_before <= MINUTES_BEFORE_MAX:
        raise RuleRefused(
            f"minutes_before must be between {MINUTES_BEFORE_MIN} and {MINUTES_BEFORE_MAX:,} "
            f"({span(MINUTES_BEFORE_MAX)}) before the appointment; {minutes_before:,} is "
            "outside that range. Change minutes_before, e.g. 1440 for a day before.",
            field="minutes_before",
        )
    if margin < 0:
        raise RuleRefused(
            "do_not_send_within_minutes cannot be negative: use 0 for no margin, or the "
            "minutes before the start when a text must no longer go out (e.g. 60).",
            field="do_not_send_within_minutes",
        )
    if margin >= minutes_before:
        raise RuleRefused(
            f"do_not_send_within_minutes ({margin:,}) must be less than minutes_before "
            f"({minutes_before:,}): otherwise the text would be due inside its own "
            f"do-not-send margin and never go out. Change it to at most {minutes_before - 1:,}.",
            field="do_not_send_within_minutes",
        )


def due_at(starts_at: datetime, minutes_before: int) -> datetime:
    """When a rule's text is due for an appointment starting at ``starts_at``."""
    return starts_at - timedelta(minutes=minutes_before)


def deadline(starts_at: datetime, margin: int) -> datetime:
    """The last moment the text may go out: the start of the do-not-send margin."""
    return starts_at - timedelta(minutes=margin)


def _minutes(delta: timedelta) -> int:
    return int(delta.total_seconds() // 60)


def margin_words_of(margin: int) -> str:
    """The margin as the rule's field says it: 'the 60-minute do-not-send margin'."""
    return f"the {margin:,}-minute do-not-send margin"


def late_reason(
    starts_at: datetime, margin: int, now: datetime, planned_at: datetime | None = None
) -> str:
    """Why a text that could go out only at ``now`` is skipped: it is inside the margin.

    ``planned_at`` is when the text was planned (the appointment booked, or the rule
    made); when that was already inside the margin, the booking is named as the cause.
    """
    margin_words = margin_words_of(margin)
    if planned_at is not None and planned_at >= deadline(starts_at, margin):
        left = _minutes(starts_at - planned_at)
        if left <= 0:
            return "The appointment was booked after its start time, so no text was sent."
        return f"The appointment was booked {span(left)} before it starts, inside {margin_words}."
    if now >= starts_at:
        return "The appointment had already started when the text could go out."
    left = _minutes(starts_at - now)
    return (
        f"Only {span(left)} were left before the appointment when the text could go out, "
        f"inside {margin_words}."
    )


def held_too_late_reason(
    hold: str | None, send_at: datetime, starts_at: datetime, margin: int
) -> str:
    """Why a text is skipped rather than sent late: the send window or the frequency cap
    (``hold``, the scheduler's own sentence) would hold it into the margin."""
    held = (hold or "held by the send window or the frequency cap").rstrip(".")
    held = held[:1].lower() + held[1:]
    if send_at >= starts_at:
        when = "after the appointment starts"
    else:
        when = f"{span(_minutes(starts_at - send_at))} before the appointment starts"
    return f"Not sent: it would be {held}, which is {when}, inside {margin_words_of(margin)}."


def decide(
    *,
    now: datetime,
    starts_at: datetime,
    appointment_status: str,
    confirmed: bool,
    purpose: str,
    minutes_before: int,
    margin: int,
    planned_at: datetime | None = None,
    rule_active: bool = True,
) -> Decision:
    """What to do with one planned (appointment, rule) text at ``now``."""
    if appointment_status in ENDED:
        return Decision(Verb.CANCEL, ENDED[appointment_status])
    if not rule_active:
        return Decision(Verb.CANCEL, "The rule was turned off or deleted.")
    if now < due_at(starts_at, minutes_before):
        return Decision(Verb.WAIT)
    if purpose == Purpose.CONFIRMATION and confirmed:
        return Decision(
            Verb.SKIP, "Already confirmed: the patient confirmed before this text was due."
        )
    if now >= deadline(starts_at, margin):
        return Decision(Verb.SKIP, late_reason(starts_at, margin, now, planned_at))
    return Decision(Verb.SEND)
