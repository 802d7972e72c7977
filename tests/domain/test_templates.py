"""Tests for clinictext.domain.templates: fields, checks, filling, worst case, languages, footer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinictext.domain.lint import lint
from clinictext.domain.segments import GSM7, UCS2, is_gsm7
from clinictext.domain.templates import (
    FIELDS,
    PURPOSES,
    SAMPLE_VALUES,
    WORST_CASE_VALUES,
    TemplateError,
    appt_date,
    appt_time,
    campaign_footer,
    check,
    fields_in,
    fill,
    pick_body,
    with_campaign_footer,
    worst_case,
    worst_case_unicode,
)


def refusal(body: str, purpose: str | None = None) -> TemplateError:
    with pytest.raises(TemplateError) as refused:
        if purpose is None:
            fields_in(body)
        else:
            check(body, purpose)
    return refused.value


# --- fields ----------------------------------------------------------------------------------


@pytest.mark.parametrize("field", FIELDS)
def test_every_field_is_known(field: str) -> None:
    assert fields_in(f"Hello [{field}].") == [field]


def test_fields_are_listed_once_in_order_of_first_use() -> None:
    body = "[ApptTime] [FName] [ApptTime] [LName] [FName]"
    assert fields_in(body) == ["ApptTime", "FName", "LName"]


def test_a_body_without_fields_has_none() -> None:
    assert fields_in("See you soon!") == []


@pytest.mark.parametrize(
    ("body", "position", "written", "suggestion"),
    [
        ("Hi [Fname], hello", 3, "[Fname]", "[FName]"),
        ("Hi [fname]", 3, "[fname]", "[FName]"),
        ("[FNmae] hi", 0, "[FNmae]", "[FName]"),
        ("Hi [First Name]", 3, "[First Name]", "[FName]"),
        ("On [ApptDt]", 3, "[ApptDt]", "[ApptDate]"),
        ("On [Appt Time]", 3, "[Appt Time]", "[ApptTime]"),
        ("Reply [Confirm Code]", 6, "[Confirm Code]", "[ConfirmCode]"),
        ("Reply [ confirmcode ]", 6, "[ confirmcode ]", "[ConfirmCode]"),
        ("Visit [ConfirmUrl]", 6, "[ConfirmUrl]", "[ConfirmURL]"),
        ("Call [OfficePhon]", 5, "[OfficePhon]", "[OfficePhone]"),
        ("From [Office]", 5, "[Office]", "[OfficeName]"),
        ("Dear [LastName]", 5, "[LastName]", "[LName]"),
        ("Bring [insurance card]", 6, "[insurance card]", None),
        ("Empty [] here", 6, "[]", None),
    ],
)
def test_an_unknown_field_names_its_position_and_the_closest_field(
    body: str, position: int, written: str, suggestion: str | None
) -> None:
    err = refusal(body)
    assert (err.position, err.field, err.suggestion) == (position, written, suggestion)
    assert written in err.message
    if suggestion:
        assert f"change it to {suggestion}" in err.message
    else:
        assert "[FName], [LName]" in err.message  # the list to choose from
    assert f"character {position + 1}" in err.message  # people count from 1


def test_a_bad_field_on_a_later_line_is_placed_by_line() -> None:
    err = refusal("Hi [FName],\nsee you [ApptDat].")
    assert err.position == 20
    assert "on line 2, character 9" in err.message


@pytest.mark.parametrize(
    ("body", "position", "suggestion"),
    [
        ("Hi [FName", 3, "[FName]"),
        ("Hi [FName, see you [ApptDate]", 3, "[FName]"),
        ("[[FName] hi", 0, None),
        ("Hi [FName\n]", 3, "[FName]"),
        ("Bring your card [", 16, None),
    ],
)
def test_an_unclosed_bracket_is_refused_where_it_opens(
    body: str, position: int, suggestion: str | None
) -> None:
    err = refusal(body)
    assert (err.position, err.suggestion) == (position, suggestion)
    assert "never closed" in err.message


def test_a_closing_bracket_without_an_opening_one_is_refused() -> None:
    err = refusal("Hi FName], welcome")
    assert (err.position, err.field, err.suggestion) == (8, "]", "[FName]")
    assert "no '['" in err.message


# --- check -----------------------------------------------------------------------------------


@pytest.mark.parametrize("purpose", PURPOSES)
def test_check_returns_the_fields(purpose: str) -> None:
    body = "Hi [FName], reply [ConfirmCode]" if purpose != "campaign" else "Hi [FName]"
    assert check(body, purpose)[0] == "FName"


@pytest.mark.parametrize("body", ["", "   ", "\n\t"])
def test_an_empty_template_is_refused(body: str) -> None:
    assert "empty" in refusal(body, "general").message


def test_a_confirmation_must_contain_confirm_code() -> None:
    err = refusal("See you [ApptDate]. Confirm at [ConfirmURL]", "confirmation")
    assert err.suggestion == "[ConfirmCode]"
    assert err.position is None
    assert "[ConfirmCode]" in err.message
    assert check("Reply [ConfirmCode] to confirm", "confirmation") == ["ConfirmCode"]


def test_a_reminder_needs_no_confirm_code() -> None:
    assert check("See you [ApptDate]", "reminder") == ["ApptDate"]


@pytest.mark.parametrize("field", ["ApptDate", "ApptTime", "ConfirmCode", "ConfirmURL"])
def test_a_campaign_cannot_use_an_appointments_fields(field: str) -> None:
    err = refusal(f"Hi [FName], about [{field}]", "campaign")
    assert err.position == 18 and err.field == f"[{field}]"
    assert "campaign" in err.message


def test_a_misspelled_field_wins_over_the_missing_confirm_code() -> None:
    err = refusal("Hi [Fname]", "confirmation")
    assert err.suggestion == "[FName]" and err.position == 3


def test_an_unknown_purpose_is_refused() -> None:
    assert "purpose" in refusal("Hi", "marketing").message


def test_a_template_that_fills_past_the_sending_limit_is_refused() -> None:
    err = refusal("x" * 1590 + " [FName]", "general")
    assert "1,611" in err.message and "1,600" in err.message
    assert check("x" * 1579 + " [FName]", "general") == ["FName"]


@pytest.mark.parametrize("body", ["Hi\x00there", "x" * 1601])
def test_a_body_that_cannot_be_sent_is_refused(body: str) -> None:
    assert "The template" in refusal(body, "general").message


# --- fill ------------------------------------------------------------------------------------


def test_fill_replaces_every_field() -> None:
    body = " ".join(f"[{f}]" for f in FIELDS)
    assert fill(body, SAMPLE_VALUES) == " ".join(SAMPLE_VALUES[f] for f in FIELDS)


def test_fill_leaves_a_field_without_a_value_as_written() -> None:
    assert fill("Hi [FName] on [ApptDate]", {"FName": "Ana"}) == "Hi Ana on [ApptDate]"


def test_fill_does_not_fill_a_value_again() -> None:
    assert fill("[FName] [LName]", {"FName": "[LName]", "LName": "Lee"}) == "[LName] Lee"


def test_fill_refuses_a_bad_template() -> None:
    with pytest.raises(TemplateError):
        fill("Hi [Fname]", SAMPLE_VALUES)


_TEXT = st.text(st.characters(blacklist_characters="[]", blacklist_categories=("Cs",)), max_size=20)
_PIECES = st.lists(st.tuples(_TEXT, st.sampled_from(FIELDS) | st.none()), max_size=8)


def _body(pieces: list[tuple[str, str | None]]) -> str:
    return "".join(text + (f"[{field}]" if field else "") for text, field in pieces)


@given(_PIECES)
def test_fields_in_lists_what_the_body_uses(pieces: list[tuple[str, str | None]]) -> None:
    used = [field for _, field in pieces if field]
    assert fields_in(_body(pieces)) == list(dict.fromkeys(used))


@given(_PIECES, st.dictionaries(st.sampled_from(FIELDS), _TEXT))
def test_fill_is_the_body_with_each_field_replaced(
    pieces: list[tuple[str, str | None]], values: dict[str, str]
) -> None:
    expected = "".join(
        text + (values.get(field, f"[{field}]") if field else "") for text, field in pieces
    )
    assert fill(_body(pieces), values) == expected


@given(_PIECES)
def test_filling_each_field_with_itself_changes_nothing(
    pieces: list[tuple[str, str | None]],
) -> None:
    body = _body(pieces)
    assert fill(body, {f: f"[{f}]" for f in FIELDS}) == body


# --- worst case ------------------------------------------------------------------------------


def test_worst_case_values_are_plain_gsm7_and_as_long_as_documented() -> None:
    assert all(is_gsm7(v) for v in WORST_CASE_VALUES.values())
    assert len(WORST_CASE_VALUES["FName"]) == len(WORST_CASE_VALUES["LName"]) == 20
    assert len(WORST_CASE_VALUES["ConfirmCode"]) == 8


def test_worst_case_date_and_time_are_the_longest_of_a_year() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    days = [start + timedelta(days=d) for d in range(365)]
    assert max(len(appt_date(d)) for d in days) == len(WORST_CASE_VALUES["ApptDate"])
    minutes = [start + timedelta(minutes=m) for m in range(0, 24 * 60, 5)]
    assert max(len(appt_time(m)) for m in minutes) == len(WORST_CASE_VALUES["ApptTime"])


@pytest.mark.parametrize(
    ("hour", "minute", "shown"),
    [
        (0, 0, "12:00 AM"),
        (9, 5, "9:05 AM"),
        (12, 0, "12:00 PM"),
        (15, 30, "3:30 PM"),
        (22, 30, "10:30 PM"),
    ],
)
def test_appointment_time_reads_as_patients_write_it(hour: int, minute: int, shown: str) -> None:
    assert appt_time(datetime(2026, 12, 1, hour, minute, tzinfo=UTC)) == shown


def test_appointment_date_reads_as_patients_write_it() -> None:
    assert appt_date(datetime(2026, 12, 1, 15, 30, tzinfo=UTC)) == "Tuesday, December 1"


def test_a_field_can_push_a_two_part_template_into_three_parts() -> None:
    body = "Hi [FName] [LName], " + "a" * 270 + " [ApptDate]"
    assert len(body) <= 306  # as written: two parts of 153
    worst = worst_case(body)
    assert (worst.encoding, worst.segments) == (GSM7, 3)
    assert worst.characters == len(body) - len("[FName][LName][ApptDate]") + 20 + 20 + 23


def test_worst_case_uses_the_office_name_and_phone_given() -> None:
    body = "From [OfficeName] [OfficePhone]"
    assert worst_case(body).characters == 5 + 38 + 1 + 14
    worst = worst_case(body, office_name="Ada", office_phone="(555) 555-0100")
    assert worst.characters == len("From Ada (555) 555-0100")
    url = worst_case("[ConfirmURL]", confirm_url="https://c.example/confirm/ABCDEFGH")
    assert url.characters == len("https://c.example/confirm/ABCDEFGH")


def test_a_name_outside_gsm7_is_counted_apart() -> None:
    body = "Hi [FName], " + "a" * 100
    assert (worst_case(body).encoding, worst_case(body).segments) == (GSM7, 1)
    unicode = worst_case_unicode(body)
    assert (unicode.encoding, unicode.segments) == (UCS2, 2)


def test_a_ucs2_template_stays_ucs2_in_the_worst_case() -> None:
    body = "Hi [FName] \U0001f600"
    assert worst_case(body).encoding == UCS2
    assert worst_case(body).characters == len("Hi ") + 20 + 2


# --- languages -------------------------------------------------------------------------------

VARIANTS = {"es": "Hola", "fr-CA": "Bonjour", "pt_BR": "Olá"}


@pytest.mark.parametrize(
    ("wanted", "picked"),
    [
        ("es", "Hola"),
        ("es-MX", "Hola"),
        ("ES_mx", "Hola"),
        ("fr-CA", "Bonjour"),
        ("fr", "Bonjour"),  # no plain "fr": the only French text beats English
        ("fr-FR", "Bonjour"),
        ("pt-BR", "Olá"),
        ("en", "Hello"),
        ("en-GB", "Hello"),
        ("de", "Hello"),
        ("", "Hello"),
    ],
)
def test_the_patients_language_picks_the_variant(wanted: str, picked: str) -> None:
    assert pick_body("Hello", "en", VARIANTS, wanted) == picked


def test_the_body_in_the_patients_base_language_beats_a_regional_variant() -> None:
    assert pick_body("Hola", "es", {"es-MX": "Quihubo"}, "es-AR") == "Hola"
    assert pick_body("Hola", "es", {"es-MX": "Quihubo"}, "es-MX") == "Quihubo"


def test_no_variants_means_the_body() -> None:
    assert pick_body("Hello", "en", {}, "es") == "Hello"


# --- campaign footer -------------------------------------------------------------------------


def test_the_footer_adds_the_name_and_opt_out_line_when_missing() -> None:
    assert with_campaign_footer("Flu shots are in! ", "Smile Dental") == (
        "Smile Dental: Flu shots are in!\nReply STOP to opt out."
    )


@pytest.mark.parametrize(
    "body",
    [
        "Smile Dental: flu shots are in. Reply STOP to opt out.",
        "[OfficeName]: flu shots are in. Text STOP to end.",
        "smile   dental flu shots. STOP to opt out",
    ],
)
def test_the_footer_leaves_a_complete_text_alone(body: str) -> None:
    assert with_campaign_footer(body, "Smile Dental") == body


def test_the_footer_adds_only_what_is_missing() -> None:
    assert with_campaign_footer("Smile Dental: hi", "Smile Dental") == (
        "Smile Dental: hi\nReply STOP to opt out."
    )
    assert with_campaign_footer("Hi. Reply STOP to opt out.", "Smile Dental") == (
        "Smile Dental: Hi. Reply STOP to opt out."
    )


def test_the_opt_out_line_speaks_the_patients_language() -> None:
    footer = campaign_footer("Hola [FName]", "Smile Dental", "es-MX")
    assert footer.suffix == "\nResponda STOP para cancelar."
    assert campaign_footer("Hi", "X", "de").suffix == "\nReply STOP to opt out."


def test_an_organization_without_a_name_gets_no_prefix() -> None:
    assert with_campaign_footer("Hi", "  ") == "Hi\nReply STOP to opt out."


_NAMES = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)
_CAMPAIGN_KEYS = {"missing_org_name", "missing_opt_out"}


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=80), _NAMES)
def test_the_footer_and_the_lint_never_disagree(body: str, org_name: str) -> None:
    before = set(lint(body, "campaign", "warn", org_name).codes) & _CAMPAIGN_KEYS
    footed = with_campaign_footer(body, org_name)
    if not before:
        assert footed == body
    else:
        after = set(lint(footed, "campaign", "warn", org_name).codes) & _CAMPAIGN_KEYS
        assert after == set()
