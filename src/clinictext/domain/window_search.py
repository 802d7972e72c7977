"""The search for the next allowed moment: when a held automated or campaign text goes out.

This module answers "may this text go out now, and if not, when?" (SPEC §6). Automated and
campaign texts go out only while it is inside the send window (see
:mod:`clinictext.domain.send_window`) in the *patient's* local time. Outside it a text is
held (status ``scheduled``) until the next instant that is inside it; :func:`place` finds
that instant and says why in a sentence staff can read. Staff replies in a conversation are
never held, so they do not come through here.

Why the *strictest* zone when a number could be in several (an area code that spans zones,
a toll-free or other non-geographic number): we cannot know which one the patient is in, so
we send only when every candidate zone is inside the window; a text sent late in any of them
could be the one that breaks the rule.

This module is pure: no I/O and no clock. The current time is always an argument, so the
search can be tested at any instant (DST changes, Sundays, the end of the window).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from clinictext.domain.send_window import (
    STATE_NAMES,
    Window,
    hhmm,
    patient_zones,
    require_zone,
    rule_for,
    state_for,
    window_for,
)

__all__ = [
    "NoSendWindowError",
    "Placement",
    "place",
]


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


# How far ahead place() looks. A week covers every weekday rule; one more day covers a DST
# change and a window that closed just before ``now``.
_HORIZON = timedelta(days=8)


# --- Placing a text ----------------------------------------------------------------------


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
    require_zone(org_tz)
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
        return f"Inside the send window: {hhmm(local.time())} the patient's time ({zones[0]})."
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
    when = f"at {hhmm(local_send.time())}"
    if local_send.date() != local_now.date():
        when = f"{local_send.strftime('%A')} at {hhmm(local_send.time())}"
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
        rule = rule_for(state, local.date())
        if state is not None and rule is not None and org_window.contains(clock):
            days = f" {rule.days}" if rule.days else ""
            name = STATE_NAMES[state]
            if clock < rule.window.start:
                return f"{name} law: not before {hhmm(rule.window.start)}{days}"
            return f"{name} law: texts only until {hhmm(rule.window.end)}{days}"
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


def _duration(delta: timedelta) -> str:
    """A wait as staff read it: "9:30", or "2 days 3:15"; rounded up to the minute."""
    minutes = max(1, math.ceil(delta.total_seconds() / 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    clock = f"{hours}:{mins:02d}"
    if days == 0:
        return clock
    return f"{days} day{'s' if days > 1 else ''} {clock}"
