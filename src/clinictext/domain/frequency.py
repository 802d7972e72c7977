"""The frequency cap on automated texts: deferred past the cap, never dropped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


def _fits(times: Sequence[datetime], t: datetime, daily: int, weekly: int) -> bool:
    in_day = sum(1 for s in times if t - DAY < s <= t)
    in_week = sum(1 for s in times if t - WEEK < s <= t)
    return in_day < daily and in_week < weekly


def counted_since(now: datetime) -> datetime:
    """Texts at or before this moment never change ``next_allowed`` for any ``at >= now``.

    Such a text is outside both windows of every candidate time from ``now`` on, and the
    candidates it adds (its time plus a day or a week) are no later than ``now``; so the
    send path reads only the texts after it, a window of a week however old the patient's
    history.
    """
    return now - WEEK


def next_allowed(times: Sequence[datetime], at: datetime, daily: int, weekly: int) -> datetime:
    """The earliest time from ``at`` when one more automated text stays within the cap.

    ``times`` are when the patient's other automated texts go (or went) out. A rolling
    24-hour and 7-day count is used, so the answer is ``at`` itself or the moment an
    earlier text leaves one of the windows.
    """
    if daily < 1 or weekly < 1:
        raise ValueError("frequency caps must allow at least one text")
    candidates = sorted({at, *(s + DAY for s in times), *(s + WEEK for s in times)})
    for t in candidates:
        if t >= at and _fits(times, t, daily, weekly):
            return t
    raise AssertionError("unreachable: the last candidate is past every text's windows")
