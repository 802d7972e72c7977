"""Tests for clinictext.domain.phones: parsing to E.164, line kinds, time zones, display.

Expected values follow SPEC §1 (Patient: a number without a country code is read in the
organization's country; landline and invalid numbers are kept and flagged) and the
numbering plans of the US (NANP) and the UK (Ofcom), worked out by hand.
"""

import pytest

from clinictext.domain.phones import (
    PhoneError,
    PhoneStatus,
    display,
    normalize_e164,
    parse_phone,
    time_zones_for,
)


@pytest.mark.parametrize(
    "raw",
    [
        "(415) 555-0123",
        "415-555-0123",
        "415.555.0123",
        "4155550123",
        "+1 415 555 0123",
        "  (415) 555-0123  ",
    ],
)
def test_us_number_without_country_code_is_read_in_the_us(raw):
    parsed = parse_phone(raw, "US")
    assert parsed.e164 == "+14155550123"


def test_us_mobile_range_number_is_valid_with_no_reason():
    parsed = parse_phone("(415) 555-0123", "US")
    assert parsed.status is PhoneStatus.VALID
    assert parsed.reason == ""


def test_region_is_accepted_in_lower_case():
    assert parse_phone("(415) 555-0123", "us").e164 == "+14155550123"


def test_number_without_country_code_is_read_in_the_given_region():
    parsed = parse_phone("07911 123456", "GB")
    assert parsed.e164 == "+447911123456"
    assert parsed.status is PhoneStatus.VALID


def test_number_with_plus_ignores_the_default_region():
    assert parse_phone("+44 7911 123456", "US").e164 == "+447911123456"


# (raw, a word the sentence must contain to tell staff what is wrong)
UNREADABLE = [
    pytest.param("12", "digits", id="too-short"),
    pytest.param("+1 555", "digits", id="country-code-and-three-digits"),
    pytest.param("abc", "not a phone number", id="letters"),
    pytest.param("", "empty", id="empty"),
    pytest.param("   ", "empty", id="whitespace-only"),
    pytest.param("1" * 41, "too long", id="41-digits"),
    pytest.param("+1 " + "2" * 38, "too long", id="41-chars-with-plus"),
]


@pytest.mark.parametrize(("raw", "says"), UNREADABLE)
def test_unreadable_number_is_refused_with_a_helpful_sentence(raw, says):
    with pytest.raises(PhoneError) as caught:
        parse_phone(raw, "US")
    message = str(caught.value)
    assert says in message.lower()
    # A sentence staff can read: starts with a capital letter or the quoted input, ends with '.'.
    assert message[0].isupper() or message.startswith("'")
    assert message.endswith(".")


@pytest.mark.parametrize(("raw", "_says"), UNREADABLE)
def test_unreadable_number_error_is_a_value_error(raw, _says):
    with pytest.raises(ValueError):
        parse_phone(raw, "US")


@pytest.mark.parametrize("raw", ["12", "abc", ""])
def test_refusal_shows_an_example_of_a_good_number(raw):
    with pytest.raises(PhoneError, match=r"\(415\) 555-0123"):
        parse_phone(raw, "US")


def test_possible_but_unassigned_number_is_kept_and_flagged_invalid():
    # 555-555-xxxx has the right length for NANP but area code 555 is not assigned.
    parsed = parse_phone("+1 555 555 0123", "US")
    assert parsed.e164 == "+15555550123"
    assert parsed.status is PhoneStatus.INVALID
    assert parsed.reason


def test_uk_fixed_line_is_kept_and_flagged_landline():
    # 020 is London's geographic (fixed-line) code.
    parsed = parse_phone("+44 20 7183 8750", "US")
    assert parsed.e164 == "+442071838750"
    assert parsed.status is PhoneStatus.LANDLINE
    assert "landline" in parsed.reason.lower()


def test_uk_mobile_is_valid():
    # 07xxx (except 070 and 076) are UK mobile ranges.
    parsed = parse_phone("+44 7911 123456", "US")
    assert parsed.e164 == "+447911123456"
    assert parsed.status is PhoneStatus.VALID


def test_uk_premium_rate_number_is_flagged_invalid_not_wireless():
    # 09xx is the UK premium-rate range: never a wireless phone.
    parsed = parse_phone("+44 909 879 0000", "US")
    assert parsed.status is PhoneStatus.INVALID
    assert "wireless" in parsed.reason


def test_normalize_e164_gives_the_e164_form():
    assert normalize_e164("(415) 555-0123") == "+14155550123"


def test_normalize_e164_refuses_what_is_not_a_number():
    with pytest.raises(PhoneError):
        normalize_e164("abc")


def test_san_francisco_number_is_in_pacific_time():
    assert time_zones_for("+14155550123") == ("America/Los_Angeles",)


def test_london_number_is_in_london_time():
    assert time_zones_for("+442071838750") == ("Europe/London",)


def test_time_zones_of_unparseable_text_are_empty():
    assert time_zones_for("not a number") == ()


@pytest.mark.parametrize(
    ("e164", "national"),
    [
        ("+14155550123", "(415) 555-0123"),
        ("+442071838750", "020 7183 8750"),
        ("+447911123456", "07911 123456"),
    ],
)
def test_display_gives_the_national_format(e164, national):
    assert display(e164) == national


def test_display_leaves_unparseable_text_unchanged():
    assert display("not a number") == "not a number"
