"""Appointments: their statuses and the changes allowed, start times, and confirm codes.

Pure: no I/O and no clock (``now`` is an argument). The service layer loads, asks these
functions and persists.

Status changes (``check_status_change``), and why:

* ``scheduled`` <-> ``confirmed`` while the appointment is still ahead: a patient or staff
  confirms it, staff may take a confirmation back.
* ``scheduled``/``confirmed`` -> ``canceled`` at any time. ``canceled`` is final: a canceled
  visit that happens after all is a new appointment (its texts, code and history are new).
* ``scheduled``/``confirmed`` -> ``completed`` or ``no_show`` once it has started, never
  before. ``completed`` <-> ``no_show`` stays possible, to correct a slip.

Moves (``check_move``): only an upcoming appointment (``scheduled`` or ``confirmed``) whose
start is still ahead can move, and only to a time still ahead. An appointment that has
started happened or was missed: mark it ``completed`` or ``no_show`` and book a new one,
so its history stays true. A move takes a confirmation back (the patient confirmed the
old time), so a confirmed appointment that moves is ``scheduled`` again.

Confirm codes (``new_confirm_code``): six characters from an alphabet without characters
that read alike (no 0/O, 1/I/L, 5/S, 2/Z, 8/B), always with at least one letter and one
digit, so that no ordinary word ("THANKS", "CANCEL") is ever a code.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class AppointmentStatus(StrEnum):
    SCHEDULED = "scheduled"
    CONFIRMED = "confirmed"
    CANCELED = "canceled"
    COMPLETED = "completed"
    NO_SHOW = "no_show"


STATUSES = tuple(s.value for s in AppointmentStatus)
# Appointments still to come: their confirm codes are taken, their texts are planned.
UPCOMING = frozenset({AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED})
# Statuses after which no text of the appointment may go out.
ENDED = frozenset(
    {AppointmentStatus.CANCELED, AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW}
)

_ALLOWED: dict[AppointmentStatus, frozenset[AppointmentStatus]] = {
    AppointmentStatus.SCHEDULED: frozenset(
        {
            AppointmentStatus.CONFIRMED,
            AppointmentStatus.CANCELED,
            AppointmentStatus.COMPLETED,
            AppointmentStatus.NO_SHOW,
        }
    ),
    AppointmentStatus.CONFIRMED: frozenset(
        {
            AppointmentStatus.SCHEDULED,
            AppointmentStatus.CANCELED,
            AppointmentStatus.COMPLETED,
            AppointmentStatus.NO_SHOW,
        }
    ),
    AppointmentStatus.COMPLETED: frozenset({AppointmentStatus.NO_SHOW}),
    AppointmentStatus.NO_SHOW: frozenset({AppointmentStatus.COMPLETED}),
    AppointmentStatus.CANCELED: frozenset(),
}
# Statuses that say the visit is over: they need a start that has come.
_AFTER_START = frozenset({AppointmentStatus.COMPLETED, AppointmentStatus.NO_SHOW})
# Statuses that look ahead: they need a start still to come.
_BEFORE_START = frozenset({AppointmentStatus.SCHEDULED, AppointmentStatus.CONFIRMED})

# Farther ahead than this is a typing slip (2062 for 2026), not a booking.
MAX_AHEAD = timedelta(days=3 * 366)

CODE_LETTERS = "ACDEFGHJKMNPQRTUVWXY"
CODE_DIGITS = "34679"
CODE_ALPHABET = CODE_LETTERS + CODE_DIGITS
CODE_LENGTH = 6
# The format "YYYY-MM-DD HH:MM" an import may give, read in the office's time zone.
LOCAL_FORMAT = "%Y-%m-%d %H:%M"
LOCAL_EXAMPLE = "2026-12-01 15:30"
ISO_EXAMPLE = "2026-12-01T15:30:00-05:00"


class ChangeRefused(ValueError):
    """A status change or move the appointment's state does not allow; ``str(err)`` says why."""


class StartRefused(ValueError):
    """A start time that cannot be booked; ``str(err)`` says what to change."""


def is_upcoming(status: str) -> bool:
    return status in UPCOMING


def when_words(at: datetime, zone: ZoneInfo) -> str:
    """A time as a clinic writes it, in ``zone``: 'Tue, Dec 1 at 3:30 PM'."""
    local = at.astimezone(zone)
    day = _DAYS[local.weekday()]
    month = _MONTHS[local.month - 1]
    hour = local.hour % 12 or 12
    half = "AM" if local.hour < 12 else "PM"
    return f"{day}, {month} {local.day} at {hour}:{local.minute:02d} {half}"


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The first instant of ``day`` in ``zone`` and of the day after, in UTC (a day with a
    clock change is 23 or 25 hours long)."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def check_start(starts_at: datetime, now: datetime, zone: ZoneInfo | None = None) -> datetime:
    """The start in UTC, or ``StartRefused``: it needs a zone, and must be ahead (not absurdly)."""
    if starts_at.tzinfo is None or starts_at.utcoffset() is None:
        raise StartRefused(
            "The start time has no time zone: give it with its offset, e.g. "
            f"{ISO_EXAMPLE} (or ending in Z for UTC)."
        )
    try:
        start = starts_at.astimezone(UTC)
    except OverflowError:
        raise StartRefused(
            f"The start time {starts_at:%Y-%m-%d} is out of range: check the year."
        ) from None
    if start <= now:
        shown = when_words(start, zone) if zone else start.strftime("%Y-%m-%d %H:%M UTC")
        raise StartRefused(
            f"The start time {shown} is in the past: book the appointment for a time still ahead."
        )
    if start > now + MAX_AHEAD:
        raise StartRefused(
            f"The start time {start:%Y-%m-%d} is more than three years ahead: check the year."
        )
    return start


def read_local_start(text: str, zone: ZoneInfo) -> datetime:
    """A start as an import gives it: ISO with an offset, or 'YYYY-MM-DD HH:MM' in ``zone``.

    A wall time that does not exist in ``zone`` (the hour skipped when clocks go forward) is
    refused; one that happens twice (when clocks go back) is the first of the two.
    """
    raw = text.strip()
    problem = (
        f"'{raw[:40]}' is not a start time: write it as {LOCAL_EXAMPLE} (the office's local "
        f"time) or with its offset, as {ISO_EXAMPLE}."
    )
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise StartRefused(problem) from None
    if parsed.tzinfo is None and (
        len(raw) != len(LOCAL_EXAMPLE) or raw[10] not in " T" or parsed.second
    ):
        raise StartRefused(problem)
    try:
        if parsed.tzinfo is not None:
            return parsed.astimezone(UTC)
        local = parsed.replace(tzinfo=zone)
        back = local.astimezone(UTC).astimezone(zone)
    except OverflowError:
        raise StartRefused(problem) from None
    if back.replace(tzinfo=None) != parsed:
        raise StartRefused(
            f"{raw} does not exist in {zone.key} (the clocks skip that hour): give the time "
            f"with its offset, as {ISO_EXAMPLE}."
        )
    return local.astimezone(UTC)


def check_status_change(
    current: AppointmentStatus, new: AppointmentStatus, starts_at: datetime, now: datetime
) -> None:
    """Raise ``ChangeRefused`` unless ``current`` may become ``new`` at ``now`` (see module)."""
    if new is current:
        return
    if current is AppointmentStatus.CANCELED:
        raise ChangeRefused(
            "This appointment is canceled, and a canceled appointment stays canceled: book a "
            "new appointment instead."
        )
    if new not in _ALLOWED[current]:
        raise ChangeRefused(
            f"A {_word(current)} appointment cannot become {_word(new)}: only "
            f"{' or '.join(_word(s) for s in sorted(_ALLOWED[current]))}."
        )
    if new in _AFTER_START and starts_at > now:
        raise ChangeRefused(
            f"This appointment has not started yet, so it cannot be marked {_word(new)}: "
            "wait until its start time, or cancel it."
        )
    if new in _BEFORE_START and starts_at <= now:
        raise ChangeRefused(
            f"This appointment has already started, so it cannot be {_word(new)} any more: "
            "mark it completed or no_show."
        )


def check_move(status: AppointmentStatus, starts_at: datetime, now: datetime) -> None:
    """Raise ``ChangeRefused`` unless an appointment in this state may move (the new time is
    checked by ``check_start``)."""
    if status not in UPCOMING:
        raise ChangeRefused(
            f"A {_word(status)} appointment cannot be moved: book a new appointment instead."
        )
    if starts_at <= now:
        raise ChangeRefused(
            "This appointment has already started, so it cannot be moved: mark it completed "
            "or no_show, and book a new appointment."
        )


def _word(status: AppointmentStatus) -> str:
    return status.value


def new_confirm_code(choice: Callable[[str], str] = secrets.choice) -> str:
    """A fresh confirm code (see module); ``choice`` picks one character, ``secrets`` by default."""
    while True:
        code = "".join(choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        if is_confirm_code(code):
            return code


def is_confirm_code(token: str) -> bool:
    """Whether ``token`` (upper case, nothing around it) has the shape of a confirm code."""
    return (
        len(token) == CODE_LENGTH
        and all(c in CODE_ALPHABET for c in token)
        and any(c in CODE_LETTERS for c in token)
        and any(c in CODE_DIGITS for c in token)
    )
