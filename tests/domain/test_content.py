"""Tests for clinictext.domain.content: what a body must be before it is queued.

The limit is Twilio's: a body of more than 1,600 characters is refused.
"""

import pytest

from clinictext.domain.content import MAX_BODY_CHARS, BodyRefused, check_body


def test_twilio_body_limit_is_1600_characters():
    assert MAX_BODY_CHARS == 1600


@pytest.mark.parametrize(
    ("body", "says"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param(" ", "empty", id="one-space"),
        pytest.param(" \t\n\r ", "empty", id="whitespace-only"),
        pytest.param("Hello\x00there", "NUL", id="nul-inside"),
        pytest.param("\x00", "NUL", id="nul-only"),
        pytest.param("a" * 1601, "1,600", id="1601-chars"),
        pytest.param("é" * 5000, "1,600", id="5000-chars"),
    ],
)
def test_body_is_refused_with_the_reason(body, says):
    with pytest.raises(BodyRefused, match=says):
        check_body(body)


def test_too_long_body_says_how_long_it_is_and_what_to_do():
    with pytest.raises(BodyRefused) as caught:
        check_body("a" * 1601)
    assert "1,601" in str(caught.value)
    assert "Shorten" in str(caught.value)


def test_body_refused_is_a_value_error():
    with pytest.raises(ValueError):
        check_body("")


@pytest.mark.parametrize(
    "body",
    [
        "Hi Ana, see you tomorrow at 9:00.",
        "a" * 1600,
        "😀" * 1600,
        "  leading and trailing spaces are kept  ",
        "x",
    ],
)
def test_body_within_the_rules_is_returned_unchanged(body):
    assert check_body(body) == body


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("See you at 3pm \ud83d", id="high-surrogate-alone"),
        pytest.param("\ude00 thanks", id="low-surrogate-alone"),
        pytest.param("caf\udce9", id="undecodable-command-line-byte"),
    ],
)
def test_body_with_a_lone_surrogate_is_refused_with_what_to_do(body):
    with pytest.raises(BodyRefused, match="broken character") as caught:
        check_body(body)
    assert "retype" in str(caught.value)


def test_a_whole_emoji_is_accepted():
    assert check_body("See you at 3pm \U0001f600") == "See you at 3pm \U0001f600"
