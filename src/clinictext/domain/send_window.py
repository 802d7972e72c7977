"""The send window: the hours in which an automated or campaign text may go out (SPEC §6).

This module answers "what is the send window for this patient on this day, and in which time
zones?": the organization's window (default 08:00–21:00, configurable per organization, read
from its "HH:MM" settings), narrowed where the patient's number belongs to a state with a
stricter telephone-solicitation law, and the time zones the patient may be in. Finding the
next instant inside it is :mod:`clinictext.domain.window_search`.

Why the patient's time: the laws and the courtesy both concern the hour at the recipient's
end. So the zones are the patient's: an explicit zone if known, else every zone the number
could be in, else the organization's.

This module is pure: no I/O and no clock. The day is always an argument, so the rules can
be tested for any date (Sundays, weekends, the edges of the window).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import NumberParseException

from clinictext.domain.phones import time_zones_for

__all__ = [
    "AREA_CODES_BY_STATE",
    "DEFAULT_WINDOW",
    "STATE_NAMES",
    "DayRule",
    "Window",
    "hhmm",
    "is_clock_time",
    "patient_zones",
    "require_zone",
    "rule_for",
    "state_for",
    "window_for",
]


@dataclass(frozen=True)
class Window:
    """A daily send window in local clock times: ``start`` inclusive, ``end`` exclusive.

    End-exclusive because "until 21:00" means a text at 21:00 itself is too late. Times are
    naive wall-clock times: the same window applies in whichever zone the patient is in.
    ``start == end`` is an empty window (no sending that day); it only arises when a state
    rule and the organization's window do not overlap (see :func:`window_for`). An
    organization's own window must have ``start < end`` (checked by
    :func:`clinictext.domain.window_search.place`).
    """

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("A send window is in local clock times: give times without a zone.")
        if self.start > self.end:
            raise ValueError(
                f"The send window must start before it ends "
                f"({hhmm(self.start)}–{hhmm(self.end)} does not)."
            )

    @classmethod
    def parse(cls, start: str, end: str) -> Window:
        """A window from the organization's "HH:MM" settings: ``Window.parse("08:00", "21:00")``.

        The organization stores its window as two "HH:MM" strings (SPEC §1); this is where
        they become clock times, with a sentence staff can act on when one is malformed.
        """
        window = cls(_parse_hhmm(start, "start"), _parse_hhmm(end, "end"))
        if window.is_empty:
            raise ValueError(f"The send window must start before it ends ({start}–{end} does not).")
        return window

    @property
    def is_empty(self) -> bool:
        """True when no clock time is inside the window."""
        return self.start == self.end

    def contains(self, clock: time) -> bool:
        """Whether the local clock time ``clock`` is inside the window (end exclusive)."""
        return self.start <= clock < self.end

    def __str__(self) -> str:
        return f"{hhmm(self.start)}–{hhmm(self.end)}"


DEFAULT_WINDOW = Window(time(8, 0), time(21, 0))
"""The organization's window when it has not configured one (SPEC §6)."""


# --- State rules -------------------------------------------------------------------------


def _codes(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Area codes (NPAs) in service in each state with a stricter calling-hours law, current as
# of 2025. Source: NANPA's NPA assignments (nationalnanpa.com/reports/reports_npa.html) as
# listed in Wikipedia's "List of North American Numbering Plan area codes" (United States
# section) and its per-code articles, checked against the overlay announcements of the
# state commissions (Florida PSC: 448 over 850, 656 over 813 in 2022, 728 over 561 on
# 2023-03-10, 324 over 904 in 2024, 645 over 305/786; Oklahoma CC: 572 over 405 in 2021;
# NJ BPU: 640 over 609 in 2018; Texas PUC: 945 over 214/469/972 in 2021) and against
# libphonenumber's geocoding data (phonenumbers 9.0.43), which names the same state for
# exactly these codes (tests/domain/test_send_window.py checks this). Area codes never
# cross state lines, so the area code alone identifies the state. A ported or moved number
# keeps its area code, so this is the state where the number was issued. New overlays come
# every year or two: add them here when NANPA announces one.
AREA_CODES_BY_STATE: dict[str, frozenset[str]] = {
    "CT": _codes("203 475 860 959"),
    "FL": _codes(
        "239 305 321 324 352 386 407 448 561 645 656 689 727 728 754 772 786 813 850 863 904 "
        "941 954"
    ),
    "MD": _codes("227 240 301 410 443 667"),
    "MS": _codes("228 601 662 769"),
    "NJ": _codes("201 551 609 640 732 848 856 862 908 973"),
    "OK": _codes("405 539 572 580 918"),
    "RI": _codes("401"),
    "TX": _codes(
        "210 214 254 281 325 346 361 409 430 432 469 512 682 713 726 737 806 817 830 832 903 "
        "915 936 940 945 956 972 979"
    ),
}

_STATE_BY_AREA_CODE: dict[str, str] = {
    code: state for state, codes in AREA_CODES_BY_STATE.items() for code in codes
}

STATE_NAMES: dict[str, str] = {
    "CT": "Connecticut",
    "FL": "Florida",
    "MD": "Maryland",
    "MS": "Mississippi",
    "NJ": "New Jersey",
    "OK": "Oklahoma",
    "RI": "Rhode Island",
    "TX": "Texas",
}


@dataclass(frozen=True)
class DayRule:
    """A state's calling hours on one weekday, and how a reason names the days it covers."""

    window: Window
    days: str  # how the reason names the days the rule covers, "" for every day


def _every_day(window: Window) -> tuple[DayRule, ...]:
    return (DayRule(window, ""),) * 7


def _hours(start: int, end: int) -> Window:
    return Window(time(start), time(end))


# Calling hours by state, indexed by weekday (Monday = 0). These laws are written for
# telephone solicitations; applying them to every automated text is deliberately
# conservative, since a reminder held a little longer harms no one.
_STATE_RULES: dict[str, tuple[DayRule, ...]] = {
    "FL": _every_day(_hours(8, 20)),
    "MD": _every_day(_hours(8, 20)),
    "MS": _every_day(_hours(8, 20)),
    "NJ": _every_day(_hours(8, 20)),
    "OK": _every_day(_hours(8, 20)),
    "CT": _every_day(_hours(9, 20)),
    "TX": (DayRule(_hours(9, 21), "Monday to Saturday"),) * 6
    + (DayRule(_hours(12, 21), "on Sundays"),),
    "RI": (DayRule(_hours(9, 18), "on weekdays"),) * 5
    + (DayRule(_hours(10, 17), "on weekends"),) * 2,
}


# --- Public functions --------------------------------------------------------------------


def state_for(e164: str) -> str | None:
    """The two-letter state whose calling-hours law applies to this number, if any.

    Only the US states with a stricter rule are known (see ``AREA_CODES_BY_STATE``); any
    other number, a non-NANP number, or text that is not a number gives None, which means
    the organization's window alone applies.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return None
    national = str(number.national_number)
    if number.country_code != 1 or len(national) != 10:
        return None
    return _STATE_BY_AREA_CODE.get(national[:3])


def patient_zones(e164: str | None, explicit_tz: str | None, org_tz: str) -> tuple[str, ...]:
    """The IANA zones the patient may be in; the text must be inside the window in all.

    The patient's explicit zone wins (staff or the patient said so). Otherwise the zones
    the number's prefix is assigned to (several for an area code spanning zones, dozens for
    a toll-free number). When neither tells us anything, the organization's zone: most
    patients live near their clinic. An explicit zone that is not a known IANA zone is
    ignored rather than trusted, so a typo cannot move a patient to another time zone.
    """
    if explicit_tz and _is_zone(explicit_tz):
        return (explicit_tz,)
    if e164:
        zones = tuple(dict.fromkeys(z for z in time_zones_for(e164) if _is_zone(z)))
        if zones:
            return zones
    require_zone(org_tz)
    return (org_tz,)


def window_for(org_window: Window, state: str | None, local_day: date) -> Window:
    """The window on ``local_day`` (the patient's date): the org's, narrowed by state law.

    The result is the intersection of the two, so a state rule can only narrow the
    organization's window, never widen it (an org window of 09:00–17:00 stays 09:00–17:00
    in Florida). The day matters for Texas (Sundays) and Rhode Island (weekends). When the
    two do not overlap the result is empty (``start == end``): no sending that day.
    """
    rule = rule_for(state, local_day)
    if rule is None:
        return org_window
    start = max(org_window.start, rule.window.start)
    end = min(org_window.end, rule.window.end)
    return Window(start, max(start, end))


def rule_for(state: str | None, local_day: date) -> DayRule | None:
    """The state's calling-hours rule on ``local_day``; None where no stricter law applies."""
    if state is None or state not in _STATE_RULES:
        return None
    return _STATE_RULES[state][local_day.weekday()]


# --- Helpers -----------------------------------------------------------------------------


# ASCII digits only: ``\d`` and ``int()`` also take Arabic-Indic or full-width digits, which
# a clock setting must never hold (every reader of it expects "08:00").
_HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])", re.ASCII)


def is_clock_time(text: str) -> bool:
    """Whether ``text`` is a 24-hour "HH:MM" clock time in ASCII digits, nothing around it."""
    return _HHMM.fullmatch(text) is not None


def _parse_hhmm(text: str, what: str) -> time:
    match = _HHMM.fullmatch(text)
    if match is None:
        raise ValueError(f"The send window {what} '{text}' is not a time like 08:00 or 21:00.")
    return time(int(match.group(1)), int(match.group(2)))


def hhmm(clock: time) -> str:
    """A clock time as staff read it in a window or a reason: "08:00"."""
    return f"{clock.hour:02d}:{clock.minute:02d}"


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def require_zone(name: str) -> None:
    """Refuse a name that is not a known IANA zone, with a sentence saying what is expected."""
    if not _is_zone(name):
        raise ValueError(f"'{name}' is not a known time zone (expected e.g. America/New_York).")
