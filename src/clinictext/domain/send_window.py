"""The send window: when an automated or campaign text may go out (SPEC §6).

Automated and campaign texts go out only while it is inside the send window in the
*patient's* local time: the organization's window (default 08:00–21:00, configurable per
organization), narrowed where the patient's number belongs to a state with a stricter
telephone-solicitation law. Outside the window a text is held (status ``scheduled``) until
the next instant that is inside it. Staff replies in a conversation are never held, so they
do not come through here.

Why the patient's time: the laws and the courtesy both concern the hour at the recipient's
end. Why the *strictest* zone when a number could be in several (an area code that spans
zones, a toll-free or other non-geographic number): we cannot know which one the patient is
in, so we send only when every candidate zone is inside the window; a text sent late in any
of them could be the one that breaks the rule.

This module is pure: no I/O and no clock. The current time is always an argument, so the
rules can be tested at any instant (DST changes, Sundays, the end of the window).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import NumberParseException

from clinictext.domain.phones import time_zones_for

__all__ = [
    "AREA_CODES_BY_STATE",
    "DEFAULT_WINDOW",
    "STATE_NAMES",
    "NoSendWindowError",
    "Placement",
    "Window",
    "is_clock_time",
    "patient_zones",
    "place",
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
    organization's own window must have ``start < end`` (checked by :func:`place`).
    """

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("A send window is in local clock times: give times without a zone.")
        if self.start > self.end:
            raise ValueError(
                f"The send window must start before it ends "
                f"({_hhmm(self.start)}–{_hhmm(self.end)} does not)."
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
        return f"{_hhmm(self.start)}–{_hhmm(self.end)}"


DEFAULT_WINDOW = Window(time(8, 0), time(21, 0))
"""The organization's window when it has not configured one (SPEC §6)."""


@dataclass(frozen=True)
class Placement:
    """Where a text lands in time, and why, in a sentence staff can read.

    ``allowed`` is True when it may go out now (then ``send_at`` is ``now`` itself).
    Otherwise ``send_at`` is the earliest instant at or after ``now`` that is inside the
    window in every zone of ``zones``, as an aware datetime in UTC (UTC so that comparing
    or subtracting it never trips over a DST fold). ``zones`` are the zones that were
    checked, ``state`` the two-letter state whose law narrowed the window (None if none).
    """

    allowed: bool
    send_at: datetime
    zones: tuple[str, ...]
    state: str | None
    reason: str


class NoSendWindowError(ValueError):
    """No instant in the coming week is inside the window: the text can never go out.

    Happens only when the organization's window and the patient's state law do not overlap
    at all (e.g. a window of 18:00–21:00 for a Rhode Island number). ``str(err)`` is the
    sentence to show; the fix is to widen the organization's send window.
    """


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
class _DayRule:
    window: Window
    days: str  # how the reason names the days the rule covers, "" for every day


def _every_day(window: Window) -> tuple[_DayRule, ...]:
    return (_DayRule(window, ""),) * 7


def _hours(start: int, end: int) -> Window:
    return Window(time(start), time(end))


# Calling hours by state, indexed by weekday (Monday = 0). These laws are written for
# telephone solicitations; applying them to every automated text is deliberately
# conservative, since a reminder held a little longer harms no one.
_STATE_RULES: dict[str, tuple[_DayRule, ...]] = {
    "FL": _every_day(_hours(8, 20)),
    "MD": _every_day(_hours(8, 20)),
    "MS": _every_day(_hours(8, 20)),
    "NJ": _every_day(_hours(8, 20)),
    "OK": _every_day(_hours(8, 20)),
    "CT": _every_day(_hours(9, 20)),
    "TX": (_DayRule(_hours(9, 21), "Monday to Saturday"),) * 6
    + (_DayRule(_hours(12, 21), "on Sundays"),),
    "RI": (_DayRule(_hours(9, 18), "on weekdays"),) * 5
    + (_DayRule(_hours(10, 17), "on weekends"),) * 2,
}

# How far ahead place() looks. A week covers every weekday rule; one more day covers a DST
# change and a window that closed just before ``now``.
_HORIZON = timedelta(days=8)


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
    _require_zone(org_tz)
    return (org_tz,)


def window_for(org_window: Window, state: str | None, local_day: date) -> Window:
    """The window on ``local_day`` (the patient's date): the org's, narrowed by state law.

    The result is the intersection of the two, so a state rule can only narrow the
    organization's window, never widen it (an org window of 09:00–17:00 stays 09:00–17:00
    in Florida). The day matters for Texas (Sundays) and Rhode Island (weekends). When the
    two do not overlap the result is empty (``start == end``): no sending that day.
    """
    rule = _rule_for(state, local_day)
    if rule is None:
        return org_window
    start = max(org_window.start, rule.window.start)
    end = min(org_window.end, rule.window.end)
    return Window(start, max(start, end))


def place(
    now: datetime,
    org_window: Window,
    e164: str | None,
    explicit_tz: str | None,
    org_tz: str,
) -> Placement:
    """Whether an automated/campaign text may go out at ``now``, and if not, when.

    ``now`` must be timezone-aware (a naive time has no meaning across time zones). The
    text is allowed when ``now`` is inside the window in every candidate zone; otherwise
    it is placed at the earliest later instant that is, found by checking every instant at
    which a zone's window opens (and every DST change) in the coming week, DST-safe because
    each candidate is checked by converting it to local time, never by clock arithmetic.

    If the candidate zones have no instant in common (a toll-free number spans 42 zones and
    a narrow org window such as 09:00–17:00 cannot be open in all of them at once), the
    organization's zone is used instead and the reason says so. If even that fails, the
    org window and the state law never overlap: :class:`NoSendWindowError`.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("place() needs a timezone-aware time: a naive time is ambiguous.")
    if org_window.is_empty:
        raise ValueError(f"The organization's send window {org_window} is empty.")
    _require_zone(org_tz)
    state = state_for(e164) if e164 else None
    zones = patient_zones(e164, explicit_tz, org_tz)
    now_utc = now.astimezone(UTC)

    fallback_note = ""
    send_at = _earliest(now_utc, org_window, state, zones)
    if send_at is None and len(zones) > 1:
        fallback_note = (
            f"The number could be in {len(zones)} time zones and no time is inside the send "
            f"window in all of them, so the clinic's time zone ({org_tz}) is used. "
        )
        zones = (org_tz,)
        send_at = _earliest(now_utc, org_window, state, zones)
    if send_at is None:
        law = f" and the hours {STATE_NAMES[state]} law allows" if state else ""
        raise NoSendWindowError(
            f"No time in the coming week is inside the organization's send window "
            f"({org_window}){law}, so this text cannot be sent. Widen the send window in "
            f"the organization settings."
        )

    if send_at == now_utc:
        return Placement(True, now, zones, state, fallback_note + _allowed_reason(now_utc, zones))
    reason = _held_reason(now_utc, send_at, org_window, state, zones)
    return Placement(False, send_at, zones, state, fallback_note + reason)


# --- Search ------------------------------------------------------------------------------


def _inside_all(
    instant: datetime, org_window: Window, state: str | None, zones: Iterable[str]
) -> bool:
    """Whether ``instant`` is inside the window in every zone (by converting to local time)."""
    for zone in zones:
        local = instant.astimezone(ZoneInfo(zone))
        if not window_for(org_window, state, local.date()).contains(local.time()):
            return False
    return True


def _earliest(
    now_utc: datetime, org_window: Window, state: str | None, zones: tuple[str, ...]
) -> datetime | None:
    """The earliest instant in [now, now + horizon] inside the window in all ``zones``.

    The allowed instants form a union of intervals closed at the start; the earliest one
    at or after ``now`` is ``now`` itself or the start of such an interval, and an interval
    starts either when some zone's clock reaches its window start or when a DST change
    makes a zone's clock jump into its window. So it is enough to test ``now`` and those
    instants, in order.
    """
    if _inside_all(now_utc, org_window, state, zones):
        return now_utc
    limit = now_utc + _HORIZON
    candidates: set[datetime] = set()
    for zone in zones:
        tz = ZoneInfo(zone)
        first_day = (now_utc - timedelta(days=1)).astimezone(tz).date()
        last_day = (limit + timedelta(days=1)).astimezone(tz).date()
        day = first_day
        while day <= last_day:
            window = window_for(org_window, state, day)
            if not window.is_empty:
                for fold in (0, 1):
                    local = datetime.combine(day, window.start, tzinfo=tz).replace(fold=fold)
                    candidates.add(local.astimezone(UTC))
            day += timedelta(days=1)
        candidates.update(_transitions(tz, now_utc - timedelta(days=1), limit))
    for candidate in sorted(c for c in candidates if now_utc < c <= limit):
        if _inside_all(candidate, org_window, state, zones):
            return candidate
    return None


def _transitions(tz: ZoneInfo, start_utc: datetime, end_utc: datetime) -> list[datetime]:
    """The instants in [start, end] at which ``tz`` changes its UTC offset (DST changes).

    ``zoneinfo`` has no public list of transitions, so sample every 6 hours (no zone
    changes offset twice within 6 hours) and bisect to the second where the offset differs.
    """
    step = timedelta(hours=6)
    second = timedelta(seconds=1)
    found: list[datetime] = []
    # Whole seconds throughout, so the bisection always makes progress.
    lo = start_utc.replace(microsecond=0)
    end_utc = end_utc.replace(microsecond=0) + second
    lo_offset = lo.astimezone(tz).utcoffset()
    while lo < end_utc:
        hi = min(lo + step, end_utc)
        hi_offset = hi.astimezone(tz).utcoffset()
        if hi_offset != lo_offset:
            a, b = lo, hi  # offset at a is lo_offset, at b it has changed
            while b - a > second:
                mid = (a + (b - a) / 2).replace(microsecond=0)
                if mid.astimezone(tz).utcoffset() == lo_offset:
                    a = mid
                else:
                    b = mid
            found.append(b)
        lo, lo_offset = hi, hi_offset
    return found


# --- Reasons -----------------------------------------------------------------------------


def _allowed_reason(now_utc: datetime, zones: tuple[str, ...]) -> str:
    if len(zones) == 1:
        local = now_utc.astimezone(ZoneInfo(zones[0]))
        return f"Inside the send window: {_hhmm(local.time())} the patient's time ({zones[0]})."
    return f"Inside the send window in all {len(zones)} time zones the number could be in."


def _held_reason(
    now_utc: datetime,
    send_at: datetime,
    org_window: Window,
    state: str | None,
    zones: tuple[str, ...],
) -> str:
    """Why the text waits (the rule that blocks it now) and when it goes out."""
    why = _blocking_rule(now_utc, org_window, state, zones)
    zone = _opening_zone(send_at, org_window, state, zones)
    tz = ZoneInfo(zone)
    local_send = send_at.astimezone(tz)
    local_now = now_utc.astimezone(tz)
    when = f"at {_hhmm(local_send.time())}"
    if local_send.date() != local_now.date():
        when = f"{local_send.strftime('%A')} at {_hhmm(local_send.time())}"
    where = f"the patient's time ({zone})"
    if len(zones) > 1:
        where = (
            f"the patient's time ({zone}; the number could be in {len(zones)} time zones and "
            f"the text waits until the window is open in all of them)"
        )
    return (
        f"Held for the send window ({why}): goes out {when} {where}, "
        f"{_duration(send_at - now_utc)} from now."
    )


def _blocking_rule(
    now_utc: datetime, org_window: Window, state: str | None, zones: tuple[str, ...]
) -> str:
    """The rule that keeps the text from going out now, named for staff.

    A state law is named only when it is what blocks: when the organization's own window
    would have allowed the text at that local time.
    """
    for zone in zones:
        local = now_utc.astimezone(ZoneInfo(zone))
        clock = local.time()
        if window_for(org_window, state, local.date()).contains(clock):
            continue
        rule = _rule_for(state, local.date())
        if state is not None and rule is not None and org_window.contains(clock):
            days = f" {rule.days}" if rule.days else ""
            name = STATE_NAMES[state]
            if clock < rule.window.start:
                return f"{name} law: not before {_hhmm(rule.window.start)}{days}"
            return f"{name} law: texts only until {_hhmm(rule.window.end)}{days}"
        return str(org_window)
    return str(org_window)  # not reached: some zone blocks


def _opening_zone(
    send_at: datetime, org_window: Window, state: str | None, zones: tuple[str, ...]
) -> str:
    """The zone whose window opened last at ``send_at``: the one the text waited for."""
    if len(zones) == 1:
        return zones[0]

    def since_open(zone: str) -> timedelta:
        local = send_at.astimezone(ZoneInfo(zone))
        start = window_for(org_window, state, local.date()).start
        opened = datetime.combine(local.date(), start, tzinfo=local.tzinfo)
        return local.replace(tzinfo=None) - opened.replace(tzinfo=None)

    return min(zones, key=since_open)


# --- Helpers -----------------------------------------------------------------------------


def _rule_for(state: str | None, local_day: date) -> _DayRule | None:
    if state is None or state not in _STATE_RULES:
        return None
    return _STATE_RULES[state][local_day.weekday()]


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


def _hhmm(clock: time) -> str:
    return f"{clock.hour:02d}:{clock.minute:02d}"


def _duration(delta: timedelta) -> str:
    """A wait as staff read it: "9:30", or "2 days 3:15"; rounded up to the minute."""
    minutes = max(1, math.ceil(delta.total_seconds() / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    clock = f"{hours}:{mins:02d}"
    if days == 0:
        return clock
    return f"{days} day{'s' if days > 1 else ''} {clock}"


def _is_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _require_zone(name: str) -> None:
    if not _is_zone(name):
        raise ValueError(f"'{name}' is not a known time zone (expected e.g. America/New_York).")
