"""Tests for clinictext.domain.appointments: statuses, moves, start times, confirm codes."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinictext.domain.appointments import (
    CODE_ALPHABET,
    CODE_DIGITS,
    CODE_LETTERS,
    AppointmentStatus,
    ChangeRefused,
    StartRefused,
    check_move,
    check_start,
    check_status_change,
    day_bounds,
    is_confirm_code,
    new_confirm_code,
    read_local_start,
    when_words,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=2)
EARLIER = NOW - timedelta(hours=2)
NEW_YORK = ZoneInfo("America/New_York")
S = AppointmentStatus

# --- status changes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "new", "start"),
    [
        (S.SCHEDULED, S.CONFIRMED, LATER),
        (S.CONFIRMED, S.SCHEDULED, LATER),
        (S.SCHEDULED, S.CANCELED, LATER),
        (S.CONFIRMED, S.CANCELED, EARLIER),
        (S.SCHEDULED, S.COMPLETED, EARLIER),
        (S.CONFIRMED, S.NO_SHOW, EARLIER),
        (S.COMPLETED, S.NO_SHOW, EARLIER),
        (S.NO_SHOW, S.COMPLETED, EARLIER),
        (S.CANCELED, S.CANCELED, LATER),
        (S.SCHEDULED, S.SCHEDULED, EARLIER),
    ],
)
def test_allowed_status_changes(current: S, new: S, start: datetime) -> None:
    check_status_change(current, new, start, NOW)


@pytest.mark.parametrize("new", [S.SCHEDULED, S.CONFIRMED, S.COMPLETED, S.NO_SHOW])
def test_canceled_is_final(new: S) -> None:
    with pytest.raises(ChangeRefused, match="stays canceled"):
        check_status_change(S.CANCELED, new, LATER, NOW)


@pytest.mark.parametrize("new", [S.COMPLETED, S.NO_SHOW])
def test_a_visit_cannot_be_over_before_it_starts(new: S) -> None:
    with pytest.raises(ChangeRefused, match="has not started yet"):
        check_status_change(S.SCHEDULED, new, LATER, NOW)


def test_a_started_appointment_cannot_be_confirmed_or_unconfirmed() -> None:
    with pytest.raises(ChangeRefused, match="already started"):
        check_status_change(S.SCHEDULED, S.CONFIRMED, EARLIER, NOW)
    with pytest.raises(ChangeRefused, match="already started"):
        check_status_change(S.CONFIRMED, S.SCHEDULED, EARLIER, NOW)


def test_a_finished_visit_does_not_go_back_to_scheduled() -> None:
    with pytest.raises(ChangeRefused, match="cannot become scheduled"):
        check_status_change(S.COMPLETED, S.SCHEDULED, EARLIER, NOW)


# --- moves ---------------------------------------------------------------------------------


def test_an_upcoming_appointment_can_move() -> None:
    check_move(S.SCHEDULED, LATER, NOW)
    check_move(S.CONFIRMED, LATER, NOW)


@pytest.mark.parametrize("status", [S.CANCELED, S.COMPLETED, S.NO_SHOW])
def test_an_ended_appointment_cannot_move(status: S) -> None:
    with pytest.raises(ChangeRefused, match="book a new appointment"):
        check_move(status, LATER, NOW)


def test_an_appointment_that_has_started_cannot_move() -> None:
    with pytest.raises(ChangeRefused, match="already started"):
        check_move(S.SCHEDULED, EARLIER, NOW)


# --- start times ---------------------------------------------------------------------------


def test_a_start_is_stored_in_utc() -> None:
    start = datetime.fromisoformat("2026-12-01T15:30:00-05:00")
    assert check_start(start, NOW) == datetime(2026, 12, 1, 20, 30, tzinfo=UTC)


def test_a_start_without_a_zone_is_refused_with_an_example() -> None:
    with pytest.raises(StartRefused, match=r"no time zone.*2026-12-01T15:30:00-05:00"):
        check_start(datetime(2026, 12, 1, 15, 30), NOW)


def test_a_start_in_the_past_is_refused_in_the_office_time() -> None:
    with pytest.raises(StartRefused, match=r"Mon, Jun 1 at 6:00 AM is in the past"):
        check_start(EARLIER, NOW, NEW_YORK)
    with pytest.raises(StartRefused, match="in the past"):
        check_start(NOW, NOW)


def test_a_start_years_ahead_is_a_typing_slip() -> None:
    with pytest.raises(StartRefused, match="three years ahead: check the year"):
        check_start(datetime(2062, 6, 1, tzinfo=UTC), NOW)


def test_local_start_is_read_in_the_office_zone() -> None:
    assert read_local_start("2026-12-01 15:30", NEW_YORK) == datetime(
        2026, 12, 1, 20, 30, tzinfo=UTC
    )
    assert read_local_start(" 2026-07-01 09:00 ", NEW_YORK) == datetime(
        2026, 7, 1, 13, 0, tzinfo=UTC
    )


def test_a_start_with_an_offset_keeps_it() -> None:
    got = read_local_start("2026-12-01T15:30:00-08:00", NEW_YORK)
    assert got == datetime(2026, 12, 1, 23, 30, tzinfo=UTC)
    assert read_local_start("2026-12-01T15:30:00Z", NEW_YORK).hour == 15


@pytest.mark.parametrize(
    "text",
    [
        "12/01/2026 3:30 PM",
        "2026-12-01",
        "2026-12-01 15:30:10",
        "tomorrow",
        "",
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:00-05:00",
    ],
)
def test_a_wrong_date_format_names_the_expected_formats(text: str) -> None:
    with pytest.raises(StartRefused) as err:
        read_local_start(text, NEW_YORK)
    assert "2026-12-01 15:30" in str(err.value)
    assert "2026-12-01T15:30:00-05:00" in str(err.value)


def test_a_wall_time_the_clocks_skip_is_refused() -> None:
    with pytest.raises(StartRefused, match="does not exist in America/New_York"):
        read_local_start("2026-03-08 02:30", NEW_YORK)


def test_a_wall_time_that_happens_twice_is_the_first() -> None:
    # 2026-11-01 01:30 happens in EDT (-4) and again in EST (-5).
    assert read_local_start("2026-11-01 01:30", NEW_YORK) == datetime(
        2026, 11, 1, 5, 30, tzinfo=UTC
    )


def test_when_words_are_in_the_zone_given() -> None:
    at = datetime(2026, 12, 1, 20, 30, tzinfo=UTC)
    assert when_words(at, NEW_YORK) == "Tue, Dec 1 at 3:30 PM"
    assert when_words(at, ZoneInfo("UTC")) == "Tue, Dec 1 at 8:30 PM"
    assert when_words(datetime(2026, 12, 1, 5, 5, tzinfo=UTC), ZoneInfo("UTC")).endswith("5:05 AM")
    assert when_words(datetime(2026, 12, 1, 0, 0, tzinfo=UTC), ZoneInfo("UTC")).endswith("12:00 AM")


# --- confirm codes -------------------------------------------------------------------------


def test_the_alphabet_has_no_characters_that_read_alike() -> None:
    for ambiguous in "0O1IL5S2Z8B":
        assert ambiguous not in CODE_ALPHABET


def test_codes_are_six_characters_with_a_letter_and_a_digit() -> None:
    for _ in range(2000):
        code = new_confirm_code()
        assert len(code) == 6
        assert set(code) <= set(CODE_ALPHABET)
        assert set(code) & set(CODE_LETTERS)
        assert set(code) & set(CODE_DIGITS)


def test_a_code_drawn_all_letters_or_all_digits_is_drawn_again() -> None:
    picks = iter("AAAAAA" + "333333" + "AAAAA3")
    assert new_confirm_code(lambda _alphabet: next(picks)) == "AAAAA3"


@given(st.text(alphabet=CODE_LETTERS, min_size=6, max_size=6))
def test_an_ordinary_word_is_never_a_code(word: str) -> None:
    assert not is_confirm_code(word)


@pytest.mark.parametrize("word", ["THANKS", "CANCEL", "CONFIRM", "123456", "AC37R", "AC37RK7"])
def test_words_and_wrong_lengths_are_not_codes(word: str) -> None:
    assert not is_confirm_code(word)


def test_codes_spread_over_the_alphabet() -> None:
    rng = random.Random(7)
    seen = {new_confirm_code(rng.choice) for _ in range(5000)}
    assert len(seen) == 5000  # no repeats in a small sample of a space of ~240 million


def test_a_day_is_its_local_midnights_and_may_be_23_hours() -> None:
    start, end = day_bounds(date(2026, 12, 1), NEW_YORK)
    assert (start, end) == (
        datetime(2026, 12, 1, 5, tzinfo=UTC),
        datetime(2026, 12, 2, 5, tzinfo=UTC),
    )
    start, end = day_bounds(date(2026, 3, 8), NEW_YORK)
    assert end - start == timedelta(hours=23)
