"""Tests for clinictext.domain.segments: GSM-7 / UCS-2 detection and Twilio segment counts.

Every expected number below was worked out by hand from the rules (160 septets in a lone
GSM-7 segment, 153 per concatenated segment, extension characters cost 2 septets and never
split; 70 / 67 UTF-16 units for UCS-2, surrogate pairs never split), never by calling the
code under test. The character tables are written out here independently of the module.
"""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinictext.domain.segments import (
    GSM7,
    UCS2,
    SegmentInfo,
    count_segments,
    gsm7_rewrite,
    is_gsm7,
)

# GSM 03.38 default alphabet: 127 characters (the 128th code, 0x1B, is the escape).
GREEK = "\u0394\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e"  # ΔΦΓΛΩΠΨΣΘΞ
BASIC = (
    "@£$¥èéùìòÇØøÅå"
    + GREEK
    + "_ÆæßÉ"
    + " !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    + "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    + "abcdefghijklmnopqrstuvwxyzäöñüà"
    + "\n\r"
)
EXTENSION = "^{}\\[~]|\u20ac\f"  # each costs 2 septets (escape + code)
EMOJI = "\U0001f600"  # 😀, one code point, two UTF-16 code units (a surrogate pair)
EMOJI_WINK = "\U0001f61c"  # 😜, the emoji used in the calculator's own tests
A_ACUTE = "\u00e1"  # á: Latin-1 but not GSM-7, one UTF-16 unit
RSQUO = "\u2019"  # ’ right single quotation mark (curly apostrophe)
LDQUO, RDQUO = "\u201c", "\u201d"  # “ ”
EM_DASH, EN_DASH = "\u2014", "\u2013"
ELLIPSIS = "\u2026"
NBSP = "\u00a0"
# A few characters from Twilio's smart-encoding list, for the generators.
SMART_SAMPLE = LDQUO + RDQUO + RSQUO + "\u2018" + EM_DASH + EN_DASH + ELLIPSIS + NBSP + "\u2022"


def test_alphabet_literal_is_what_this_file_claims() -> None:
    assert len(BASIC) == 127
    assert len(set(BASIC)) == 127
    assert len(EXTENSION) == 10
    assert not set(BASIC) & set(EXTENSION)


@pytest.mark.parametrize("char", list(BASIC))
def test_every_basic_character_is_one_septet(char: str) -> None:
    assert is_gsm7(char)
    info = count_segments(char)
    assert (info.encoding, info.units, info.segments) == (GSM7, 1, 1)


@pytest.mark.parametrize("char", list(EXTENSION))
def test_every_extension_character_is_two_septets(char: str) -> None:
    assert is_gsm7(char)
    info = count_segments(char)
    assert (info.encoding, info.units, info.characters) == (GSM7, 2, 1)


@pytest.mark.parametrize(
    "char",
    [
        pytest.param("`", id="grave-accent"),
        pytest.param("\u00e7", id="c-cedilla-small"),  # only capital Ç is GSM-7
        pytest.param("\u00f3", id="o-acute"),  # ò is GSM-7, ó is not
        pytest.param("\t", id="tab"),
        pytest.param("\x1b", id="escape-itself"),
        pytest.param(NBSP, id="no-break-space"),
        pytest.param("\u2126", id="ohm-sign"),  # looks like Ω (U+03A9) but is not it
        pytest.param("\u0391", id="greek-capital-alpha"),  # looks like A
        pytest.param("\u00a2", id="cent-sign"),
        pytest.param("\u00e2", id="a-circumflex"),
        pytest.param(RSQUO, id="curly-apostrophe"),
        pytest.param(EMOJI, id="emoji"),
    ],
)
def test_characters_outside_gsm7(char: str) -> None:
    assert not is_gsm7(char)
    info = count_segments(char)
    assert info.encoding == UCS2
    assert info.non_gsm_characters == (char,)


# (body, encoding, segments, units, per_segment)
COUNT_CASES = [
    # --- empty: the calculator always starts with one segment ---
    pytest.param("", GSM7, 1, 0, 160, id="empty"),
    # --- GSM-7, basic characters ---
    pytest.param("a" * 160, GSM7, 1, 160, 160, id="gsm-160"),
    pytest.param("a" * 161, GSM7, 2, 161, 153, id="gsm-161"),
    pytest.param("a" * 306, GSM7, 2, 306, 153, id="gsm-306=2x153"),
    pytest.param("a" * 307, GSM7, 3, 307, 153, id="gsm-307"),
    pytest.param("a" * 459, GSM7, 3, 459, 153, id="gsm-459=3x153"),
    pytest.param("a" * 460, GSM7, 4, 460, 153, id="gsm-460"),
    pytest.param("\r\n" * 80, GSM7, 1, 160, 160, id="gsm-crlf-1-each"),
    # --- GSM-7, extension characters (2 septets) ---
    pytest.param("\u20ac" * 80, GSM7, 1, 160, 160, id="euro-x80=160"),
    pytest.param("\u20ac" * 80 + "a", GSM7, 2, 161, 153, id="euro-x80+1=161"),
    pytest.param("|" + "a" * 158, GSM7, 1, 160, 160, id="ext-first-160"),
    pytest.param("|" + "a" * 159, GSM7, 2, 161, 153, id="ext-first-161"),
    pytest.param("a" * 158 + "\u20ac", GSM7, 1, 160, 160, id="ext-last-160"),
    pytest.param("a" * 159 + "\u20ac", GSM7, 2, 161, 153, id="ext-last-161"),
    pytest.param("\f" * 80, GSM7, 1, 160, 160, id="formfeed-x80"),
    # 81 pairs = 162 septets: 76 pairs (152) fill segment 1, 5 pairs go to segment 2.
    pytest.param("\f" * 81, GSM7, 2, 162, 153, id="formfeed-x81"),
    # Pair exactly closes segment 1 (151 + 2 = 153), 153 basic fill segment 2.
    pytest.param("a" * 151 + "\u20ac" + "a" * 153, GSM7, 2, 306, 153, id="ext-ends-at-153"),
    # Pair would straddle 153/154: it moves to segment 2 (2 + 151 = 153), 1 left -> 3.
    pytest.param("a" * 152 + "[" + "a" * 152, GSM7, 3, 306, 153, id="ext-straddles-153"),
    pytest.param("a" * 152 + "[" + "a" * 151, GSM7, 2, 305, 153, id="ext-moved-fits"),
    # 153 pairs = 306 septets: 76 pairs per segment (152 septets) -> 76 + 76 + 1.
    pytest.param("]" * 153, GSM7, 3, 306, 153, id="ext-only-306"),
    # --- UCS-2, BMP characters (1 unit) ---
    pytest.param(A_ACUTE * 70, UCS2, 1, 70, 70, id="ucs2-70"),
    pytest.param(A_ACUTE * 71, UCS2, 2, 71, 67, id="ucs2-71"),
    pytest.param(A_ACUTE * 134, UCS2, 2, 134, 67, id="ucs2-134=2x67"),
    pytest.param(A_ACUTE * 135, UCS2, 3, 135, 67, id="ucs2-135"),
    pytest.param(A_ACUTE * 201, UCS2, 3, 201, 67, id="ucs2-201=3x67"),
    pytest.param(A_ACUTE * 202, UCS2, 4, 202, 67, id="ucs2-202"),
    pytest.param("e\u0301", UCS2, 1, 2, 70, id="combining-accent"),
    # --- UCS-2, surrogate pairs (2 units) ---
    pytest.param(EMOJI * 35, UCS2, 1, 70, 70, id="emoji-x35=70"),
    pytest.param(EMOJI * 35 + "a", UCS2, 2, 71, 67, id="emoji-x35+1=71"),
    pytest.param(EMOJI_WINK + "2" * 68, UCS2, 1, 70, 70, id="calculator-ucs2-one"),
    pytest.param(EMOJI_WINK + "2" * 69, UCS2, 2, 71, 67, id="calculator-ucs2-two"),
    # In UCS-2 an extension character is one UTF-16 unit, not two.
    pytest.param(EMOJI + "]" * 68, UCS2, 1, 70, 70, id="ucs2-ext-is-1-unit-70"),
    pytest.param(EMOJI + "]" * 69, UCS2, 2, 71, 67, id="ucs2-ext-is-1-unit-71"),
    # Emoji exactly closes segment 1 (65 + 2 = 67), 67 fill segment 2.
    pytest.param(A_ACUTE * 65 + EMOJI + A_ACUTE * 67, UCS2, 2, 134, 67, id="emoji-ends-at-67"),
    # Emoji would straddle 67/68: it moves to segment 2 (2 + 65 = 67), 1 left -> 3.
    pytest.param(A_ACUTE * 66 + EMOJI + A_ACUTE * 66, UCS2, 3, 134, 67, id="emoji-straddles-67"),
    pytest.param(A_ACUTE * 66 + EMOJI + A_ACUTE * 65, UCS2, 2, 133, 67, id="emoji-moved-fits"),
    # 67 emoji = 134 units: 33 emoji (66 units) per segment -> 33 + 33 + 1.
    pytest.param(EMOJI * 67, UCS2, 3, 134, 67, id="emoji-only-134"),
    # --- one smart character turns a long GSM-7 message into UCS-2 ---
    pytest.param("a" * 150 + RSQUO, UCS2, 3, 151, 67, id="curly-apostrophe-151"),
    pytest.param("a" * 100 + EM_DASH + "a" * 59, UCS2, 3, 160, 67, id="em-dash-160"),
    pytest.param("a" * 69 + LDQUO, UCS2, 1, 70, 70, id="curly-quote-70"),
    pytest.param("a" * 70 + LDQUO, UCS2, 2, 71, 67, id="curly-quote-71"),
]


@pytest.mark.parametrize(("body", "encoding", "segments", "units", "per_segment"), COUNT_CASES)
def test_count_segments(
    body: str, encoding: str, segments: int, units: int, per_segment: int
) -> None:
    info = count_segments(body)
    assert info.encoding == encoding
    assert info.segments == segments
    assert info.units == units
    assert info.per_segment == per_segment
    assert info.characters == len(body)


@pytest.mark.parametrize(
    ("body", "characters", "units"),
    [
        pytest.param("", 0, 0, id="empty"),
        pytest.param(EMOJI, 1, 2, id="emoji-1-char-2-units"),
        pytest.param("\u20ac", 1, 2, id="euro-1-char-2-septets"),
        pytest.param("\u20ac" + A_ACUTE, 2, 2, id="euro-in-ucs2-1-unit"),
        pytest.param("\U0001f44d\U0001f3fd", 2, 4, id="thumbs-up-skin-tone"),
        pytest.param("Hi {name}, see you at 9:30", 26, 28, id="braces-in-gsm"),
    ],
)
def test_characters_and_units(body: str, characters: int, units: int) -> None:
    info = count_segments(body)
    assert (info.characters, info.units) == (characters, units)


def test_segment_info_is_frozen() -> None:
    info = count_segments("hello")
    assert info == SegmentInfo(GSM7, 1, 5, 5, 160, ())
    with pytest.raises(AttributeError):
        info.segments = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("Plain text {ok} \u20ac5 caf\u00e9", (), id="gsm7-none"),
        pytest.param(
            f"Hi {LDQUO}Ana{RDQUO} {EM_DASH} caf\u00e9 {EMOJI} \u00e7 {RSQUO} {LDQUO}",
            (LDQUO, RDQUO, EM_DASH, EMOJI, "\u00e7", RSQUO),
            id="distinct-in-first-seen-order",
        ),
        pytest.param("\u00e7" * 3, ("\u00e7",), id="repeated-once"),
        pytest.param("\U0001f44d\U0001f3fd", ("\U0001f44d", "\U0001f3fd"), id="code-points"),
        pytest.param("tab\there", ("\t",), id="tab"),
    ],
)
def test_non_gsm_characters(body: str, expected: tuple[str, ...]) -> None:
    assert count_segments(body).non_gsm_characters == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param("", True, id="empty"),
        pytest.param("Reply STOP to opt out. {}[]~|^\\\u20ac", True, id="with-extension"),
        pytest.param("Caf\u00e9 \u00c7a \u00a7 \u00bf\u00a1", True, id="latin-in-gsm"),
        pytest.param("gar\u00e7on", False, id="c-cedilla"),
        pytest.param(f"it{RSQUO}s", False, id="curly-apostrophe"),
    ],
)
def test_is_gsm7(body: str, expected: bool) -> None:
    assert is_gsm7(body) is expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            f"{LDQUO}Hello{RDQUO}, it{RSQUO}s 9{EN_DASH}10am{ELLIPSIS}",
            '"Hello", it\'s 9-10am...',
            id="curly-quotes-dash-ellipsis",
        ),
        pytest.param("\u2018yes\u2019", "'yes'", id="single-curly-quotes"),
        pytest.param(f"Dr.{NBSP}Lee {EM_DASH} see you", "Dr. Lee - see you", id="nbsp-em-dash"),
        pytest.param("\u2022 item", "- item", id="bullet"),
        pytest.param("\u2039a\u203a \u00abb\u00bb", '<a> "b"', id="angle-quotes"),
        pytest.param("\u00bd tablet", "1/2 tablet", id="fraction"),
        pytest.param("zero\u200bwidth\ufeff", "zerowidth", id="invisible-dropped"),
        pytest.param("\uff21\uff22\uff23\uff11", "ABC1", id="fullwidth"),
        pytest.param("\t", " " * 7, id="tab-7-spaces"),
        pytest.param("Already GSM {ok} \u20ac", "Already GSM {ok} \u20ac", id="unchanged"),
        pytest.param("", "", id="empty"),
        pytest.param(f"Thanks{RSQUO} {EMOJI}", None, id="emoji-stays"),
        pytest.param(f"{LDQUO}gar\u00e7on{RDQUO}", None, id="no-replacement-for-c-cedilla"),
    ],
)
def test_gsm7_rewrite(body: str, expected: str | None) -> None:
    assert gsm7_rewrite(body) == expected


def test_rewrite_brings_long_message_back_to_one_segment() -> None:
    body = "a" * 150 + RSQUO  # UCS-2: 151 units -> 3 segments (checked above)
    rewritten = gsm7_rewrite(body)
    assert rewritten == "a" * 150 + "'"
    info = count_segments(rewritten)
    assert (info.encoding, info.segments, info.units) == (GSM7, 1, 151)


def test_count_does_not_apply_smart_encoding() -> None:
    assert count_segments(f"it{RSQUO}s").encoding == UCS2


# --- properties ---------------------------------------------------------------------------

GSM_ALL = BASIC + EXTENSION
mixed_chars = st.one_of(
    st.sampled_from(GSM_ALL),
    st.sampled_from(SMART_SAMPLE + A_ACUTE + EMOJI),
    st.characters(),
)


def _hand_units(body: str) -> int:
    if all(c in GSM_ALL for c in body):
        return sum(2 if c in EXTENSION else 1 for c in body)
    return sum(2 if ord(c) > 0xFFFF else 1 for c in body)


@given(st.text(alphabet=mixed_chars, max_size=400), mixed_chars)
def test_appending_never_decreases_segments(body: str, extra: str) -> None:
    assert count_segments(body + extra).segments >= count_segments(body).segments


@given(st.text(alphabet=st.sampled_from(BASIC), min_size=161, max_size=1200))
def test_long_basic_gsm7_takes_ceil_n_over_153(body: str) -> None:
    info = count_segments(body)
    assert info.encoding == GSM7
    assert info.units == len(body)
    assert info.segments == math.ceil(len(body) / 153)
    assert info.per_segment == 153


@given(st.text(alphabet=st.sampled_from(BASIC), max_size=160))
def test_short_basic_gsm7_takes_one_segment(body: str) -> None:
    info = count_segments(body)
    assert (info.encoding, info.segments, info.per_segment) == (GSM7, 1, 160)


@given(st.text(alphabet=mixed_chars, max_size=400))
def test_units_and_lower_bound(body: str) -> None:
    info = count_segments(body)
    assert info.units == _hand_units(body)
    assert info.encoding == (GSM7 if all(c in GSM_ALL for c in body) else UCS2)
    assert is_gsm7(body) is (info.encoding == GSM7)
    # Never fewer segments than a perfect packing would need.
    assert info.segments >= max(1, math.ceil(info.units / info.per_segment))


@given(st.text(alphabet=mixed_chars, max_size=300))
def test_rewrite_is_gsm7_when_not_none(body: str) -> None:
    rewritten = gsm7_rewrite(body)
    if rewritten is not None:
        assert all(c in GSM_ALL for c in rewritten)


@given(st.text(alphabet=st.sampled_from(GSM_ALL + SMART_SAMPLE), max_size=300))
def test_rewrite_succeeds_for_gsm7_plus_smart_characters(body: str) -> None:
    rewritten = gsm7_rewrite(body)
    assert rewritten is not None
    assert all(c in GSM_ALL for c in rewritten)
