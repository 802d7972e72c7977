"""Staff accounts' pure rules: roles, email and password checks, the sign-in delay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinictext.domain import staff
from clinictext.domain.staff import Permission

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("role", "permission", "allowed"),
    [
        ("staff", Permission.TEXT, True),
        ("staff", Permission.ADMINISTER, False),
        ("admin", Permission.TEXT, True),
        ("admin", Permission.ADMINISTER, True),
        ("owner", Permission.TEXT, False),
        ("", Permission.TEXT, False),
    ],
)
def test_roles(role: str, permission: Permission, allowed: bool) -> None:
    assert staff.allows(role, permission) is allowed


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        ("Front.Desk@Clinic.Example ", True),
        ("a@b.co", True),
        ("no-at-sign", False),
        ("two@@signs.example", False),
        ("space in@side.example", False),
        ("nodot@localhost", False),
        ("x" * 65 + "@clinic.example", False),
    ],
)
def test_email_check(raw: str, ok: bool) -> None:
    assert (staff.email_problem(staff.normalize_email(raw)) is None) is ok


def test_normalized_email_is_trimmed_lower_case() -> None:
    assert staff.normalize_email("  Ana@Clinic.EXAMPLE ") == "ana@clinic.example"


@pytest.mark.parametrize(
    ("password", "ok"),
    [("short", False), ("12345678", True), ("x" * 256, True), ("x" * 257, False)],
)
def test_password_length(password: str, ok: bool) -> None:
    assert (staff.password_problem(password) is None) is ok


@pytest.mark.parametrize(
    ("failures", "delay"),
    [
        (0, timedelta(0)),
        (4, timedelta(0)),
        (5, timedelta(seconds=30)),
        (6, timedelta(seconds=60)),
        (7, timedelta(seconds=120)),
        (9, timedelta(seconds=480)),
        (10, timedelta(minutes=15)),
        (500, timedelta(minutes=15)),
    ],
)
def test_the_delay_grows_after_five_failures_up_to_fifteen_minutes(
    failures: int, delay: timedelta
) -> None:
    assert staff.delay_after(failures) == delay


@given(st.integers(min_value=0, max_value=10_000))
def test_the_delay_never_shrinks_with_more_failures(failures: int) -> None:
    assert staff.delay_after(failures + 1) >= staff.delay_after(failures)


def test_wait_remaining_counts_down_from_the_last_failure() -> None:
    assert staff.wait_remaining(5, T0, T0 + timedelta(seconds=10)) == timedelta(seconds=20)
    assert staff.wait_remaining(5, T0, T0 + timedelta(seconds=31)) == timedelta(0)
    assert staff.wait_remaining(3, T0, T0) == timedelta(0)
    assert staff.wait_remaining(0, None, T0) == timedelta(0)


@pytest.mark.parametrize(
    ("wait", "words"),
    [
        (timedelta(seconds=0.2), "1 second"),
        (timedelta(seconds=30), "30 seconds"),
        (timedelta(seconds=119), "119 seconds"),
        (timedelta(seconds=120), "2 minutes"),
        (timedelta(minutes=15), "15 minutes"),
    ],
)
def test_the_wait_in_words(wait: timedelta, words: str) -> None:
    assert staff.describe_wait(wait) == words


def test_idle_expiry() -> None:
    idle = timedelta(minutes=30)
    assert not staff.idle_expired(T0, T0 + idle, idle)
    assert staff.idle_expired(T0, T0 + idle + timedelta(seconds=1), idle)
