"""Staff accounts: who may do what, and how failed sign-ins slow down. Pure.

Roles (SPEC, the staff web app): ``staff`` texts patients and manages leads, consent and
commlogs; ``admin`` can also change the organization's settings, numbers, users and API
keys. A growing delay after repeated failures makes guessing a password by trying slow
without locking a real person out for long: five tries are free, then each failure
doubles the wait, up to fifteen minutes.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    STAFF = "staff"


class Permission(StrEnum):
    TEXT = "text"  # send texts, manage leads, consent, commlogs, conversations
    ADMINISTER = "administer"  # settings, numbers, users, API keys


_GRANTS = {
    Role.STAFF: frozenset({Permission.TEXT}),
    Role.ADMIN: frozenset({Permission.TEXT, Permission.ADMINISTER}),
}

FREE_FAILURES = 5
FIRST_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def allows(role: str, permission: Permission) -> bool:
    """Whether a user with ``role`` may do what ``permission`` covers (unknown roles: no)."""
    try:
        return permission in _GRANTS[Role(role)]
    except ValueError:
        return False


def normalize_email(raw: str) -> str:
    """The email as stored and compared: trimmed, lower case."""
    return raw.strip().lower()


def email_problem(email: str) -> str | None:
    """Why ``email`` (normalized) cannot name an account, or None."""
    if len(email) > 254 or not _EMAIL.match(email):
        return "Enter an email address like name@clinic.example."
    return None


def password_problem(password: str) -> str | None:
    """Why ``password`` cannot be used, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use a password of at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"Use a password of at most {MAX_PASSWORD_LENGTH} characters."
    return None


def delay_after(failures: int) -> timedelta:
    """How long sign-in waits after ``failures`` consecutive failures."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    # The exponent is capped: past 2**10 the delay is at its maximum anyway, and a huge
    # count (a long guessing run) must not overflow.
    return min(FIRST_DELAY * 2 ** min(failures - FREE_FAILURES, 10), MAX_DELAY)


def wait_remaining(failures: int, last_failure_at: datetime | None, now: datetime) -> timedelta:
    """How long until the next sign-in attempt for this email is heard (zero: now)."""
    if last_failure_at is None:
        return timedelta(0)
    return max(last_failure_at + delay_after(failures) - now, timedelta(0))


def describe_wait(wait: timedelta) -> str:
    """The wait in words: "30 seconds", "2 minutes"."""
    seconds = max(1, int(-(-wait.total_seconds() // 1)))
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minutes"


def idle_expired(last_seen_at: datetime, now: datetime, idle: timedelta) -> bool:
    """Whether a sign-in has been idle for longer than ``idle``."""
    return now - last_seen_at > idle
