"""Tests for clinictext.domain.send_window: the window, its parsing and the state rules.

Expected values follow SPEC §6 (the organization's window, stricter where the patient's state
requires) and the state rules FL, MD, MS, NJ, OK 08:00–20:00; CT 09:00–20:00; TX 09:00–21:00
Monday–Saturday and 12:00–21:00 Sunday; RI 09:00–18:00 weekdays and 10:00–17:00 weekends.
When a held text goes out is tested in test_window_search.py. No test reads the clock.
"""

from __future__ import annotations

from datetime import date, time

import phonenumbers
import pytest
from phonenumbers import geocoder

from clinictext.domain.send_window import (
    AREA_CODES_BY_STATE,
    DEFAULT_WINDOW,
    Window,
    is_clock_time,
    patient_zones,
    state_for,
    window_for,
)

NEW_YORK_CITY = "+12125550123"  # 212: New York, no state rule
MIAMI = "+13055550123"  # 305: Florida
DALLAS = "+12145550123"  # 214: Texas, Central time
PROVIDENCE = "+14015550123"  # 401: Rhode Island
HARTFORD = "+12035550123"  # 203: Connecticut
TOLL_FREE = "+18005550123"  # 800: every NANP zone from Guam to Newfoundland
NINE_TO_FIVE = Window(time(9), time(17))

# 2024-06-05 is a Wednesday; 2024-06-08 a Saturday; 2024-06-09 a Sunday.


# --- The window on a given day --------------------------------------------------------------


def test_window_for_narrows_by_state_and_weekday():
    wed, sat, sun = date(2024, 6, 5), date(2024, 6, 8), date(2024, 6, 9)
    assert window_for(DEFAULT_WINDOW, None, wed) == DEFAULT_WINDOW
    assert window_for(DEFAULT_WINDOW, "FL", sun) == Window(time(8), time(20))
    assert window_for(DEFAULT_WINDOW, "CT", wed) == Window(time(9), time(20))
    assert window_for(DEFAULT_WINDOW, "TX", sat) == Window(time(9), time(21))
    assert window_for(DEFAULT_WINDOW, "TX", sun) == Window(time(12), time(21))
    assert window_for(DEFAULT_WINDOW, "RI", wed) == Window(time(9), time(18))
    assert window_for(DEFAULT_WINDOW, "RI", sat) == Window(time(10), time(17))
    assert window_for(DEFAULT_WINDOW, "RI", sun) == Window(time(10), time(17))
    assert window_for(NINE_TO_FIVE, "TX", sun) == Window(time(12), time(17))
    assert window_for(Window(time(7), time(22)), "TX", wed) == Window(time(9), time(21))


def test_window_for_without_overlap_is_empty():
    w = window_for(Window(time(18), time(21)), "RI", date(2024, 6, 5))
    assert w.is_empty
    assert not w.contains(time(18))


def test_unknown_explicit_zone_is_ignored_not_trusted():
    assert patient_zones(NEW_YORK_CITY, "Mars/Olympus_Mons", "America/Denver") == (
        "America/New_York",
    )


# --- Parsing the organization's window ---------------------------------------------------


def test_window_parse_reads_hh_mm_and_refuses_nonsense():
    assert Window.parse("08:00", "21:00") == DEFAULT_WINDOW
    assert Window.parse("09:30", "17:15") == Window(time(9, 30), time(17, 15))
    bad = [("8am", "21:00"), ("24:00", "21:00"), ("21:00", "08:00"), ("09:00", "09:00")]
    for start, end in bad:
        with pytest.raises(ValueError):
            Window.parse(start, end)
    with pytest.raises(ValueError):
        Window(time(21), time(8))


@pytest.mark.parametrize(
    "clock",
    [
        pytest.param("1\u0668:00", id="arabic-indic-digit"),
        pytest.param("\u0660\u0668:\u0660\u0660", id="all-arabic-indic"),
        pytest.param("\uff10\uff18:00", id="fullwidth-digits"),
        pytest.param(" 08:00", id="leading-space"),
        pytest.param("08:00\n", id="trailing-newline"),
        pytest.param("+8:00", id="sign"),
        pytest.param("8:0", id="short"),
        pytest.param("08:60", id="minute-60"),
    ],
)
def test_window_parse_accepts_only_ascii_hh_mm(clock: str) -> None:
    assert not is_clock_time(clock)
    with pytest.raises(ValueError, match="08:00"):
        Window.parse(clock, "21:00")


def test_clock_times_at_the_edges_of_the_day_are_read() -> None:
    assert is_clock_time("00:00") and is_clock_time("23:59")
    assert Window.parse("00:00", "23:59") == Window(time(0, 0), time(23, 59))


# --- The area-code table ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("e164", "state"),
    [
        (MIAMI, "FL"),
        ("+17285550123", "FL"),  # Palm Beach overlay, 2023
        ("+13245550123", "FL"),  # Jacksonville overlay, 2024
        ("+16455550123", "FL"),  # Miami overlay
        ("+12405550123", "MD"),
        ("+17695550123", "MS"),
        ("+16405550123", "NJ"),
        ("+15725550123", "OK"),
        (HARTFORD, "CT"),
        ("+19595550123", "CT"),
        (DALLAS, "TX"),
        ("+19455550123", "TX"),
        ("+17265550123", "TX"),
        ("+19155550123", "TX"),
        (PROVIDENCE, "RI"),
        (NEW_YORK_CITY, None),
        ("+14155550123", None),
        (TOLL_FREE, None),
        ("+16135550123", None),  # Ottawa, Canada
        ("+442071234567", None),
        ("not a number", None),
    ],
)
def test_state_for(e164, state):
    assert state_for(e164) == state


def test_area_code_table_sizes():
    sizes = {state: len(codes) for state, codes in AREA_CODES_BY_STATE.items()}
    assert sizes == {
        "CT": 4,
        "FL": 23,
        "MD": 6,
        "MS": 4,
        "NJ": 10,
        "OK": 5,
        "RI": 1,
        "TX": 28,
    }


_STATE_SPELLINGS = {
    "CT": {"CT", "Connecticut"},
    "FL": {"FL", "Florida"},
    "MD": {"MD", "Maryland"},
    "MS": {"MS", "Mississippi"},
    "NJ": {"NJ", "New Jersey"},
    "OK": {"OK", "Oklahoma"},
    "RI": {"RI", "Rhode Island"},
    "TX": {"TX", "Texas"},
}


def test_area_code_table_agrees_with_libphonenumber_geocoding():
    """A second source: libphonenumber names the state of every area code.

    If this fails after a phonenumbers upgrade, a new overlay area code was probably put in
    service: add it to AREA_CODES_BY_STATE (it is a legal rule, so a missing code matters).
    """
    found: dict[str, set[str]] = {state: set() for state in _STATE_SPELLINGS}
    for npa in range(200, 1000):
        for subscriber in ("2345678", "5550123", "3000000", "7000000", "9000000"):
            number = phonenumbers.parse(f"+1{npa}{subscriber}")
            description = geocoder.description_for_number(number, "en")
            if description:
                place_name = description.split(", ")[-1]
                for state, spellings in _STATE_SPELLINGS.items():
                    if place_name in spellings:
                        found[state].add(str(npa))
                break
    assert found == {state: set(codes) for state, codes in AREA_CODES_BY_STATE.items()}
