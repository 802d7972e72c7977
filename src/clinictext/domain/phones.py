"""Phone numbers: parsing to E.164 and what kind of line a number is.

Built on ``phonenumbers`` (Google's libphonenumber metadata). A number that cannot be a
phone number at all (too short, too long, letters) is refused with a sentence staff can
act on; a number that parses but is not assigned, or is a fixed line, is kept and flagged so
the can-text checklist can explain it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType
from phonenumbers import timezone as pn_timezone


class PhoneStatus(StrEnum):
    VALID = "valid"
    LANDLINE = "landline"
    INVALID = "invalid"
    MISSING = "missing"


class PhoneError(ValueError):
    """A value that cannot be read as a phone number; ``str(err)`` is the sentence to show."""


@dataclass(frozen=True)
class ParsedPhone:
    e164: str
    status: PhoneStatus
    reason: str  # why it was flagged, empty for a valid number


_NOT_TEXTABLE_TYPES = {
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.UAN: "a universal access number",
    PhoneNumberType.VOICEMAIL: "a voicemail access number",
    PhoneNumberType.PAGER: "a pager number",
}

_EXAMPLE = "(415) 555-0123 or +14155550123"


def parse_phone(raw: str, default_region: str = "US") -> ParsedPhone:
    """Read ``raw`` as a phone number; numbers without ``+`` are read in ``default_region``."""
    text = raw.strip()
    if not text:
        raise PhoneError(f"The phone number is empty. Enter a number such as {_EXAMPLE}.")
    if len(text) > 40:
        raise PhoneError("The phone number is too long to be a phone number.")
    try:
        number = phonenumbers.parse(text, default_region.upper())
    except NumberParseException:
        raise PhoneError(
            f"'{text}' is not a phone number. Enter a number such as {_EXAMPLE}."
        ) from None
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == phonenumbers.ValidationResult.TOO_SHORT:
        raise PhoneError(
            f"'{text}' has too few digits. Enter the full number with its area code, "
            f"such as {_EXAMPLE}."
        )
    if reason in (
        phonenumbers.ValidationResult.TOO_LONG,
        phonenumbers.ValidationResult.INVALID_LENGTH,
    ):
        raise PhoneError(f"'{text}' has too many digits for a phone number in its country.")
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        raise PhoneError(
            f"'{text}' is not a phone number: check the country code. "
            f"Enter a number such as {_EXAMPLE}."
        )
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(number):
        return ParsedPhone(
            e164, PhoneStatus.INVALID, "This number is not in service in its country."
        )
    kind = phonenumbers.number_type(number)
    if kind == PhoneNumberType.FIXED_LINE:
        return ParsedPhone(e164, PhoneStatus.LANDLINE, "This number is a landline.")
    if kind in _NOT_TEXTABLE_TYPES:
        return ParsedPhone(
            e164, PhoneStatus.INVALID, f"This is {_NOT_TEXTABLE_TYPES[kind]}, not a wireless phone."
        )
    return ParsedPhone(e164, PhoneStatus.VALID, "")


def normalize_e164(raw: str, default_region: str = "US") -> str:
    """The E.164 form of ``raw``, for numbers that only need to be dialable (clinic phones)."""
    return parse_phone(raw, default_region).e164


def time_zones_for(e164: str) -> tuple[str, ...]:
    """The IANA time zones a number's prefix is assigned to; empty when unknown."""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return ()
    zones = tuple(z for z in pn_timezone.time_zones_for_number(number) if z != "Etc/Unknown")
    return zones


@lru_cache(maxsize=4096)
def display(e164: str) -> str:
    """A number as people write it in its own country, e.g. (415) 555-0123.

    Kept for the numbers last shown: every text's checklist shows its sender and patient,
    and parsing a number costs more than the rest of that check."""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
