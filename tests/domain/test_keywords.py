"""Tests for clinictext.domain.keywords: whole-message carrier keywords (SPEC §4).

``classify``: whole-message STOP/START/HELP keywords. Tables of every keyword in several
spellings, the edge cases we decided on (trailing punctuation and emoji count, "OPT OUT"
with a space counts, "STOP IT PLEASE" is *not* a keyword: it is a sentence, which the
revocation detector flags for staff instead, see test_revocation.py), and Hypothesis
properties.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinictext.domain.keywords import (
    HELP_WORDS,
    OPT_IN_WORDS,
    OPT_OUT_WORDS,
    Keyword,
    classify,
)

# --------------------------------------------------------------------------------------------
# classify: carrier keywords
# --------------------------------------------------------------------------------------------

EXPECTED_WORDS = {
    Keyword.OPT_OUT: (
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "REVOKE",
        "OPTOUT",
        "OPT-OUT",
    ),
    Keyword.OPT_IN: ("START", "UNSTOP", "YES"),
    Keyword.HELP: ("HELP", "INFO"),
}
ALL_WORDS = [(word, kw) for kw, words in EXPECTED_WORDS.items() for word in words]


def test_word_lists_match_the_spec() -> None:
    assert EXPECTED_WORDS[Keyword.OPT_OUT] == OPT_OUT_WORDS
    assert EXPECTED_WORDS[Keyword.OPT_IN] == OPT_IN_WORDS
    assert EXPECTED_WORDS[Keyword.HELP] == HELP_WORDS
    assert [k.value for k in Keyword] == ["opt_out", "opt_in", "help"]


def _alternating(word: str) -> str:
    return "".join(c.lower() if i % 2 else c.upper() for i, c in enumerate(word))


@pytest.mark.parametrize(("word", "expected"), ALL_WORDS)
@pytest.mark.parametrize(
    "spell",
    [
        pytest.param(str.upper, id="upper"),
        pytest.param(str.lower, id="lower"),
        pytest.param(str.capitalize, id="capitalized"),
        pytest.param(_alternating, id="mixed"),
    ],
)
@pytest.mark.parametrize(
    "pad",
    [
        pytest.param(("", ""), id="bare"),
        pytest.param(("  ", " "), id="spaces"),
        pytest.param(("\t", "\n"), id="tab-newline"),
        pytest.param(("\u00a0", "\u3000"), id="nbsp-ideographic"),
    ],
)
def test_every_keyword_in_every_case_with_surrounding_whitespace(
    word: str, expected: Keyword, spell, pad: tuple[str, str]
) -> None:
    assert classify(pad[0] + spell(word) + pad[1]) is expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("  stop ", Keyword.OPT_OUT),
        ("Stop.", Keyword.OPT_OUT),
        ("Stop!", Keyword.OPT_OUT),
        ("STOP!!!", Keyword.OPT_OUT),
        ("stop?", Keyword.OPT_OUT),  # decided: a questioning STOP is still STOP (err to opt-out)
        ('"STOP"', Keyword.OPT_OUT),
        ("\u201cStop\u201d", Keyword.OPT_OUT),  # smart quotes
        ("STOP \U0001f6d1", Keyword.OPT_OUT),  # trailing emoji (stop sign)
        ("Stop \U0001f621\U0001f621", Keyword.OPT_OUT),
        ("stop \u270b\ufe0f", Keyword.OPT_OUT),  # emoji + variation selector
        ("Yes!", Keyword.OPT_IN),
        ("yes \U0001f44d\U0001f3fd", Keyword.OPT_IN),  # thumbs-up with skin-tone modifier
        ("Help?", Keyword.HELP),
        ("OPT OUT", Keyword.OPT_OUT),  # carriers accept the spaced form
        ("opt out", Keyword.OPT_OUT),
        ("opt-out", Keyword.OPT_OUT),
        ("Opt-Out.", Keyword.OPT_OUT),
        ("OPT - OUT", Keyword.OPT_OUT),
        ("opt\u2013out", Keyword.OPT_OUT),  # en dash
        ("OPT\u2014OUT", Keyword.OPT_OUT),  # em dash
        ("opt\u2011out", Keyword.OPT_OUT),  # non-breaking hyphen
        ("optout", Keyword.OPT_OUT),
        ("STOP ALL", Keyword.OPT_OUT),
        ("un stop", Keyword.OPT_IN),
        ("\uff33\uff34\uff2f\uff30", Keyword.OPT_OUT),  # fullwidth ＳＴＯＰ (NFKC)
        ("S\u200bTOP", Keyword.OPT_OUT),  # zero-width space inside
        ("\ufeffSTOP\u200d", Keyword.OPT_OUT),  # BOM / zero-width joiner around
        ("\u00adstop\u2060", Keyword.OPT_OUT),  # soft hyphen, word joiner
        ("qu\u0131t", Keyword.OPT_OUT),  # dotless i (Turkish keyboard) uppercases to QUIT
    ],
)
def test_keyword_edge_cases(body: str, expected: Keyword) -> None:
    assert classify(body) is expected


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   ",
        "!!!",
        "\U0001f6d1",
        "stop by tomorrow",
        "Can I stop by at 3?",
        # Decided: a sentence is not a keyword, even an emphatic one. Carriers match the
        # whole message; "STOP IT PLEASE" and "stop texting me" go to detect_revocation,
        # which flags them for staff.
        "STOP IT PLEASE",
        "stop texting me",
        "STOP STOP",
        "please stop",
        "cancel my appointment",
        "end of the week works",
        "yes please",
        "Yes I'll be there",
        "help me find the office",
        "stopped",
        "stops",
        "stahp",
        "S.T.O.P",
        "opt in",
        "alto",  # Spanish: not a carrier keyword here; detect_revocation flags it
        "st\u00f6p",
        "STOP <3",
    ],
)
def test_not_a_keyword(body: str) -> None:
    assert classify(body) is None


WHITESPACE = st.text(alphabet=" \t\n\r\u00a0\u2003\u3000", max_size=4)


@given(st.text())
def test_classify_never_raises_on_arbitrary_text(body: str) -> None:
    assert classify(body) is None or isinstance(classify(body), Keyword)


@given(st.text(), WHITESPACE, WHITESPACE)
def test_classify_is_insensitive_to_case_and_surrounding_whitespace(
    body: str, left: str, right: str
) -> None:
    expected = classify(body)
    assert classify(body.upper()) == expected
    assert classify(body.lower()) == expected
    assert classify(left + body + right) == expected


@given(
    st.sampled_from([w for w, _ in ALL_WORDS]),
    st.sampled_from([str.upper, str.lower, str.capitalize, _alternating]),
    WHITESPACE,
    WHITESPACE,
    st.text(alphabet=".!?", max_size=3),
)
def test_keywords_survive_case_whitespace_and_trailing_punctuation(
    word: str, spell, left: str, right: str, punct: str
) -> None:
    expected = dict(ALL_WORDS)[word]
    assert classify(left + spell(word) + punct + right) is expected
