"""Message templates with bracket fields (SPEC §5). Pure: no database, no clock.

A template is a text such as ``Hi [FName], see you [ApptDate] at [ApptTime].`` The fields
are a closed list, so a misspelled one (``[Fname]``) is an error when the template is saved,
with its position and the closest known field, rather than a patient receiving the bracket.
Every ``[`` opens a field: brackets are the field syntax, and a stray one in the text would
read as a broken field to the next person who edits it.

Why hand-written: a template language (Jinja2, ``string.Template``) would accept loops,
filters or any name; clinics need eight fixed fields, exact error positions and a fill that
costs about a microsecond, which a cached split of the body gives.

``worst_case`` answers "how many parts will this cost?" before 5,000 texts go out: it fills
the template with the longest plausible values (see ``WORST_CASE_VALUES``) and counts the
segments as ``domain.segments`` does.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from clinictext.domain.content import MAX_BODY_CHARS, BodyRefused, check_body
from clinictext.domain.lint import has_opt_out_line, names_org
from clinictext.domain.segments import SegmentInfo, count_segments

FIELDS: tuple[str, ...] = (
    "FName",
    "LName",
    "OfficeName",
    "OfficePhone",
    "ApptDate",
    "ApptTime",
    "ConfirmCode",
    "ConfirmURL",
)
PURPOSES = ("reminder", "confirmation", "campaign", "general")
# A campaign goes to patients, not to an appointment: these fields have nothing to fill.
APPOINTMENT_FIELDS = ("ApptDate", "ApptTime", "ConfirmCode", "ConfirmURL")

SegmentCount = SegmentInfo

_FIELD_SET = frozenset(FIELDS)
_BY_FOLDED = {f.casefold(): f for f in FIELDS}
# The bracketed text of a field may not hold another bracket or a line break: "[FName" then
# text then "]" further on is an unclosed field, not one field with a long name.
_BRACKET = re.compile(r"\[([^\[\]\n]*)\]|\[|\]")
_LIST = ", ".join(f"[{f}]" for f in FIELDS)


class TemplateError(ValueError):
    """The template cannot be saved as written; ``message`` says what to change.

    ``position`` is the 0-based character offset of the problem (None when it is about the
    whole text), ``field`` the bad bracketed text as written, ``suggestion`` the closest known
    field written with its brackets, e.g. ``"[FName]"``.
    """

    def __init__(
        self,
        message: str,
        *,
        position: int | None = None,
        field: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.position = position
        self.field = field
        self.suggestion = suggestion


def _closest(name: str) -> str | None:
    """The known field ``name`` was probably meant to be, or None."""
    folded = "".join(name.split()).casefold()
    if folded in _BY_FOLDED:
        return _BY_FOLDED[folded]
    match = difflib.get_close_matches(folded, list(_BY_FOLDED), n=1, cutoff=0.6)
    return _BY_FOLDED[match[0]] if match else None


def _where(body: str, position: int) -> str:
    """Position as a person counts it: line and character for a text of several lines."""
    line = body.count("\n", 0, position) + 1
    column = position - (body.rfind("\n", 0, position) + 1) + 1
    if line == 1:
        return f"at character {column}"
    return f"on line {line}, character {column}"


def _unknown(body: str, position: int, written: str, name: str) -> TemplateError:
    suggestion = _closest(name)
    hint = (
        f"change it to [{suggestion}] (fields are written exactly so, capitals included)."
        if suggestion
        else f"use one of {_LIST}."
    )
    return TemplateError(
        f"There is no field {written} ({_where(body, position)}): {hint}",
        position=position,
        field=written,
        suggestion=f"[{suggestion}]" if suggestion else None,
    )


@lru_cache(maxsize=1024)
def _split(body: str) -> tuple[tuple[str, str | None], ...]:
    """The body as (literal text, field or None) pairs; raises TemplateError."""
    parts: list[tuple[str, str | None]] = []
    start = 0
    for match in _BRACKET.finditer(body):
        written = match.group(0)
        position = match.start()
        if written == "[":
            rest = body[position + 1 : position + 21].split("\n")[0].split("[")[0].strip()
            suggestion = _closest(rest.split()[0]) if rest.split() else None
            raise TemplateError(
                f"The '[' {_where(body, position)} is never closed. Fields are written with "
                f"both brackets, such as [FName]; remove the '[' if it is not a field.",
                position=position,
                field=body[position : position + 21].split("\n")[0],
                suggestion=f"[{suggestion}]" if suggestion else None,
            )
        if written == "]":
            before = re.search(r"(\w+)$", body[max(0, position - 20) : position])
            suggestion = _closest(before.group(1)) if before else None
            raise TemplateError(
                f"The ']' {_where(body, position)} has no '[' before it. Fields are written "
                "with both brackets, such as [FName]; remove the ']' if it is not a field.",
                position=position,
                field="]",
                suggestion=f"[{suggestion}]" if suggestion else None,
            )
        name = match.group(1)
        if name not in _FIELD_SET:
            raise _unknown(body, position, written, name)
        parts.append((body[start:position], name))
        start = match.end()
    parts.append((body[start:], None))
    return tuple(parts)


def fields_in(body: str) -> list[str]:
    """The known fields ``body`` uses, in order of first use; TemplateError for a bad one."""
    return list(dict.fromkeys(field for _, field in _split(body) if field is not None))


def check(body: str, purpose: str) -> list[str]:
    """The fields of a template that can be saved for ``purpose``; TemplateError otherwise.

    Beyond ``fields_in``: the body may not be empty or unsendable (``domain.content``) nor
    exceed the sending limit once filled in with ``WORST_CASE_VALUES``; a confirmation must
    contain [ConfirmCode] (the patient confirms by replying with it); a campaign may not use
    an appointment's fields (a campaign has no appointment to fill them).
    """
    if purpose not in PURPOSES:
        raise TemplateError(
            f"'{purpose}' is not a template purpose: use one of {', '.join(PURPOSES)}."
        )
    if not body.strip():
        raise TemplateError("The template is empty: write the text the patient will receive.")
    try:
        check_body(body)
    except BodyRefused as refused:
        raise TemplateError(str(refused).replace("The message", "The template")) from None
    fields = fields_in(body)
    if purpose == "confirmation" and "ConfirmCode" not in fields:
        raise TemplateError(
            "A confirmation template must contain [ConfirmCode]: patients confirm by replying "
            "with it. Add it, for example 'Reply [ConfirmCode] to confirm.'",
            suggestion="[ConfirmCode]",
        )
    longest = worst_case(body).characters
    if longest > MAX_BODY_CHARS:
        raise TemplateError(
            f"Filled in with long names and dates, this template can reach {longest:,} "
            f"characters, and a text is limited to {MAX_BODY_CHARS:,}: shorten it."
        )
    if purpose == "campaign":
        for field in fields:
            if field in APPOINTMENT_FIELDS:
                position = body.index(f"[{field}]")
                raise TemplateError(
                    f"The field [{field}] ({_where(body, position)}) cannot be used in a "
                    "campaign: a campaign is not about one appointment, so there is nothing "
                    "to fill it with. Remove it, or make this a reminder template.",
                    position=position,
                    field=f"[{field}]",
                )
    return fields


def fill(body: str, values: Mapping[str, str]) -> str:
    """``body`` with each field replaced by its value; a field missing from ``values`` stays.

    One pass: a value that itself contains "[LName]" is not filled again. The body must be a
    valid template (TemplateError otherwise).
    """
    out: list[str] = []
    for text, field in _split(body):
        out.append(text)
        if field is not None:
            out.append(values.get(field, f"[{field}]"))
    return "".join(out)


# --- worst case ----------------------------------------------------------------------------

# The longest values a field plausibly takes, all in the GSM-7 alphabet. Names: 20
# characters each (longer ones are rare and usually shortened by the practice system). Office
# name and phone: the clinic's own when known, else a long name and a US number. Date: the
# longest English one, "Wednesday, September 30". Time: "10:30 PM". Code: 8 characters, the
# longest confirm code. URL: the public address the confirmation link uses.
WORST_CASE_VALUES: Mapping[str, str] = {
    "FName": "Alexandria-Josephine",
    "LName": "Vandenberghe-Ramirez",
    "OfficeName": "Riverside Family Dental & Orthodontics",
    "OfficePhone": "(555) 555-0100",
    "ApptDate": "Wednesday, September 30",
    "ApptTime": "10:30 PM",
    "ConfirmCode": "H7K2M9PQ",
    "ConfirmURL": "https://clinictext.example.com/confirm/100000/H7K2M9PQ",
}
# The same length, with one letter outside GSM-7 (as in "Ángela"): see ``worst_case_unicode``.
_UNICODE_NAME = "Ángela-Josephine-Mar"


def _worst_values(
    office_name: str | None, office_phone: str | None, confirm_url: str | None
) -> dict[str, str]:
    values = dict(WORST_CASE_VALUES)
    if office_name:
        values["OfficeName"] = office_name
    if office_phone:
        values["OfficePhone"] = office_phone
    if confirm_url:
        values["ConfirmURL"] = confirm_url
    return values


def worst_case(
    body: str,
    *,
    office_name: str | None = None,
    office_phone: str | None = None,
    confirm_url: str | None = None,
) -> SegmentCount:
    """Encoding and segments of ``body`` filled with the longest plausible values.

    ``confirm_url`` is a full example link (the public address, "/confirm/" and a code).
    Names are assumed to be in the GSM-7 alphabet: a patient whose name has a letter outside
    it (such as "Á") turns that one text into UCS-2, which ``worst_case_unicode`` counts. It
    is not assumed here because few names need it, and counting every text as UCS-2 would
    make every template look two or three times as costly as it is. A body that is UCS-2
    itself is counted as UCS-2 in both.
    """
    return count_segments(fill(body, _worst_values(office_name, office_phone, confirm_url)))


def worst_case_unicode(
    body: str,
    *,
    office_name: str | None = None,
    office_phone: str | None = None,
    confirm_url: str | None = None,
) -> SegmentCount:
    """As ``worst_case``, for a patient whose names have a letter outside GSM-7."""
    values = _worst_values(office_name, office_phone, confirm_url)
    values["FName"] = values["LName"] = _UNICODE_NAME
    return count_segments(fill(body, values))


# Values for a filled example in the editor's preview: ordinary, not the worst case.
SAMPLE_VALUES: Mapping[str, str] = {
    "FName": "Maria",
    "LName": "Lopez",
    "OfficeName": "Your Clinic",
    "OfficePhone": "(555) 555-0100",
    "ApptDate": "Tuesday, December 1",
    "ApptTime": "3:30 PM",
    "ConfirmCode": "K7M2P",
    "ConfirmURL": "https://clinictext.example.com/confirm/K7M2P",
}


def appt_date(local: datetime) -> str:
    """A local appointment time's date as patients read it: "Tuesday, December 1"."""
    return f"{local:%A}, {local:%B} {local.day}"


def appt_time(local: datetime) -> str:
    """A local appointment time as patients read it: "3:30 PM"."""
    return f"{local.hour % 12 or 12}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"


# --- languages -----------------------------------------------------------------------------


def _tag(language: str) -> str:
    return language.strip().replace("_", "-").casefold()


def _base(language: str) -> str:
    return _tag(language).split("-")[0]


def pick_body(body: str, language: str, variants: Mapping[str, str], wanted: str) -> str:
    """The text for a patient whose language is ``wanted``.

    ``body`` is written in ``language``; ``variants`` maps other languages to their text.
    Order: the exact language ("es-MX"), then its base ("es"), then ``body`` when it is in
    that language, then any variant of the same base ("es-US" for "es"), else ``body``.
    Tags compare without regard to case or "_"/"-".
    """
    if not variants or not wanted:
        return body
    by_tag = {_tag(key): text for key, text in variants.items()}
    want, base = _tag(wanted), _base(wanted)
    if want in by_tag:
        return by_tag[want]
    if base in by_tag:
        return by_tag[base]
    if _base(language) == base:
        return body
    for key, text in by_tag.items():
        if key.split("-")[0] == base:
            return text
    return body


# --- campaigns -----------------------------------------------------------------------------

OPT_OUT_LINES: Mapping[str, str] = {
    "en": "Reply STOP to opt out.",
    "es": "Responda STOP para cancelar.",
}


@dataclass(frozen=True)
class Footer:
    """What a campaign text needs around it: ``prefix`` + text + ``suffix`` ("" when not)."""

    prefix: str
    suffix: str


def campaign_footer(body: str, org_name: str, language: str = "en") -> Footer:
    """The organization-name prefix and opt-out line ``body`` lacks, as the lint sees it.

    The decision is the lint's own (``names_org``, ``has_opt_out_line``), made on the
    template before it is filled, so a text the lint calls complete is never changed.
    """
    name = org_name.strip()
    prefix = "" if not name or names_org(body, name) else f"{name}: "
    line = OPT_OUT_LINES.get(_base(language), OPT_OUT_LINES["en"])
    suffix = "" if has_opt_out_line(body) else f"\n{line}"
    return Footer(prefix, suffix)


def with_campaign_footer(body: str, org_name: str, language: str = "en") -> str:
    """``body`` with "Org Name: " before it and "Reply STOP to opt out." after, when missing."""
    footer = campaign_footer(body, org_name, language)
    if not footer.prefix and not footer.suffix:
        return body
    text = body.rstrip() if footer.suffix else body
    return f"{footer.prefix}{text}{footer.suffix}"


__all__ = [
    "APPOINTMENT_FIELDS",
    "FIELDS",
    "PURPOSES",
    "SAMPLE_VALUES",
    "WORST_CASE_VALUES",
    "Footer",
    "SegmentCount",
    "TemplateError",
    "appt_date",
    "appt_time",
    "campaign_footer",
    "check",
    "fields_in",
    "fill",
    "pick_body",
    "with_campaign_footer",
    "worst_case",
    "worst_case_unicode",
]
