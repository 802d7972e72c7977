"""Tests for clinictext.domain.confirm_reply: which texts confirm an appointment (SPEC §4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinictext.domain.appointments import new_confirm_code
from clinictext.domain.confirm_reply import (
    Reply,
    ReplyKind,
    already_confirmed,
    no_match,
    read,
    thank_you,
)
from clinictext.domain.keywords import HELP_WORDS, OPT_IN_WORDS, OPT_OUT_WORDS

NEXT = Reply(ReplyKind.NEXT)
NONE = Reply(ReplyKind.NONE)


@pytest.mark.parametrize(
    "body",
    ["C", "c", " c. ", "C!", "(C)", "Confirm", "confirmed", "CONFIRMED!!", "Confirm 👍", "c\n"],
)
def test_c_and_confirm_confirm_the_next_appointment(body: str) -> None:
    assert read(body) == NEXT


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("AC37RK", "AC37RK"),
        ("ac37rk", "AC37RK"),
        (" ac3 7rk ", "AC37RK"),
        ("AC3-7RK", "AC37RK"),
        ("#AC37RK.", "AC37RK"),
        ("Confirm AC37RK", "AC37RK"),
        ("C ac37rk", "AC37RK"),
        ("\uff21\uff23\uff13\uff17\uff32\uff2b", "AC37RK"),  # fullwidth, as some phones type
    ],
)
def test_a_code_shaped_token_names_its_appointment(body: str, code: str) -> None:
    assert read(body) == Reply(ReplyKind.CODE, code)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   ",
        "Yes",
        "OK",
        "yes C",
        "C u there?",
        "Can I come at 3?",
        "THANKS",
        "CANCEL",
        "ACDEFG",  # no digit: a word, never a code
        "346799",  # no letter
        "AC0ORK",  # characters outside the alphabet
        "AC37R",
        "AC37RKX",
        "Cé",
        "confirm my appointment please",
        "C" * 200,
    ],
)
def test_anything_else_is_not_a_confirmation(body: str) -> None:
    assert read(body) == NONE
    assert not read(body).confirms


@pytest.mark.parametrize("word", OPT_OUT_WORDS + OPT_IN_WORDS + HELP_WORDS)
def test_no_carrier_keyword_reads_as_a_confirmation(word: str) -> None:
    assert read(word) == NONE


@given(st.integers(min_value=0, max_value=10_000))
def test_every_generated_code_is_read_back(_: int) -> None:
    code = new_confirm_code()
    assert read(code.lower()) == Reply(ReplyKind.CODE, code)
    assert read(f"{code[:3]} {code[3:]}") == Reply(ReplyKind.CODE, code)


@given(st.text(max_size=80))
def test_reading_never_fails(body: str) -> None:
    assert isinstance(read(body), Reply)


def test_answers_name_the_office_the_date_and_the_number_to_call() -> None:
    when = "Tue, Dec 1 at 3:30 PM"
    assert thank_you("Demo Clinic", when, None) == (
        "Demo Clinic: Thank you! Your appointment on Tue, Dec 1 at 3:30 PM is confirmed."
    )
    assert "at Downtown is confirmed" in thank_you("Demo Clinic", when, "Downtown")
    assert "already confirmed" in already_confirmed("Demo Clinic", when, None)
    assert no_match("Demo Clinic", "(415) 555-0100") == (
        "Demo Clinic: We could not match that to an appointment. Please call (415) 555-0100."
    )
    assert no_match("Demo Clinic", None).endswith("Please call the office.")
