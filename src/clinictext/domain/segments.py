"""SMS encoding and segment counting, the way Twilio counts them.

Given a message body, this module tells whether it goes out as GSM-7 or UCS-2 and how many
SMS segments (billable parts) it takes, and it can suggest a GSM-7 rewrite of a body that was
pushed into UCS-2 by "smart" punctuation (curly quotes, dashes, non-breaking spaces...).

Why it is written by hand: no maintained Python library counts segments the way Twilio does.
Dividing the length by 153 or 67 is wrong whenever a GSM-7 escape pair (an extension-table
character such as ``€`` or ``[``) or a UTF-16 surrogate pair (an emoji) would straddle a
segment boundary: such a pair is never split, so it moves whole to the next segment and can
add a segment. The rules are small and fixed by the GSM standard, so a short, well-tested,
standard-library-only module is the safer dependency.

Sources:

* Twilio's Messaging Segment Calculator,
  https://twiliodeveloper.github.io/message-segment-calculator/ (GitHub:
  TwilioDevEd/message-segment-calculator): ``SegmentedMessage.ts``/``Segment.ts`` for the
  segmentation rule, ``UnicodeToGSM.ts`` for the GSM-7 character table, and
  ``SmartEncodingMap.ts`` for the smart-encoding replacements (itself a copy of Twilio's
  "List of characters replaced by Smart Encoding",
  https://www.twilio.com/docs/messaging/services/smart-encoding-char-list).
* 3GPP TS 23.038 (formerly GSM 03.38), section 6.2.1: the default alphabet and its extension
  table. The tables below are written in septet order so they can be checked line by line
  against the standard; they agree with the calculator's ``UnicodeToGsm`` table.

Rules implemented (all from the calculator):

* A body is GSM-7 if every character is in the GSM-7 default alphabet or its extension table;
  otherwise the whole body is UCS-2 (UTF-16 on the wire).
* GSM-7: a basic character takes 1 septet, an extension character (``^ { } \\ [ ~ ] | €`` and
  form feed) takes 2 (escape + code). One segment holds 160 septets; when the message needs
  more, every segment carries a 6-octet User Data Header and holds 153 septets.
* UCS-2: every UTF-16 code unit counts 1, so an astral character (most emoji) counts 2, and a
  GSM-7 extension character counts 1 like any other BMP character. One segment holds 70
  units; a concatenated message holds 67 per segment.
* Segments are filled greedily, and a character's units never split across two segments.
* The empty body is GSM-7 and takes **1** segment (0 units): the calculator always starts
  with one segment, and so does this module. (Twilio refuses to send an empty SMS body
  anyway; callers that need "nothing to send" should test for the empty string.)

Deliberate differences from the calculator:

* In UCS-2 the calculator keeps whole grapheme clusters together (it uses the
  ``grapheme-splitter`` JavaScript package), so a multi-code-point emoji such as a flag, a
  skin-tone or ZWJ sequence, or a letter with combining accents moves whole to the next
  segment. The standard library has no grapheme segmentation, so here the unit that never
  splits is the code point (one surrogate pair at most). The count can differ only when such
  a cluster straddles a 67-unit boundary; GSM-7 counts are always identical.
* ``characters`` is the number of code points (``len(body)``); the calculator's
  "characters" are septets for GSM-7 and grapheme clusters for UCS-2.
* Smart encoding is never applied to the count (Twilio applies it only when a Messaging
  Service enables it); ``gsm7_rewrite`` offers it as a suggestion instead. Its table is the
  calculator's with two evident typos fixed: the calculator maps the no-break space and the
  other typographic spaces in the same block to *two* spaces (single spaces are used here, as
  for U+2001/U+2028/U+2029 in the same table), and it swaps the single angle quotation marks
  (U+2039 ``‹`` becomes ``<`` and U+203A ``›`` becomes ``>`` here).
"""

from dataclasses import dataclass
from typing import Final

GSM7: Final = "GSM-7"
UCS2: Final = "UCS-2"

_ESC: Final = "\x1b"

# GSM 03.38 default alphabet, in septet order (0x00..0x7F), one line per 16 septets.
# 0x1B is the escape to the extension table, not a character.
_GSM7_BASIC_TABLE: Final = (
    "@£$¥èéùìòÇ\nØø\rÅå"  # 0x00
    "\u0394_\u03a6\u0393\u039b\u03a9\u03a0\u03a8\u03a3\u0398\u039e" + _ESC + "ÆæßÉ"  # 0x10 Greek
    " !\"#¤%&'()*+,-./"  # 0x20
    "0123456789:;<=>?"  # 0x30
    "¡ABCDEFGHIJKLMNO"  # 0x40
    "PQRSTUVWXYZÄÖÑÜ§"  # 0x50
    "¿abcdefghijklmno"  # 0x60
    "pqrstuvwxyzäöñüà"  # 0x70
)
_GSM7_BASIC: Final = frozenset(_GSM7_BASIC_TABLE) - {_ESC}

# GSM 03.38 extension table: character -> septet sent after the escape (so 2 septets each).
_GSM7_EXTENSION: Final[dict[str, int]] = {
    "\f": 0x0A,  # form feed (page break)
    "^": 0x14,
    "{": 0x28,
    "}": 0x29,
    "\\": 0x2F,
    "[": 0x3C,
    "~": 0x3D,
    "]": 0x3E,
    "|": 0x40,
    "\u20ac": 0x65,  # euro sign
}

_GSM7_SINGLE: Final = 160  # septets in a lone segment: 140 octets * 8 / 7
_GSM7_CONCAT: Final = 153  # (140 - 6 octets of User Data Header) * 8 // 7
_UCS2_SINGLE: Final = 70  # UTF-16 code units in a lone segment: 140 octets / 2
_UCS2_CONCAT: Final = 67  # (140 - 6) // 2

# Twilio smart encoding (see the module docstring for the two fixed typos).
_SMART_ENCODING: Final[dict[str, str]] = {
    # double quotation marks
    "\u00ab": '"',  # LEFT-POINTING DOUBLE ANGLE QUOTATION MARK
    "\u00bb": '"',  # RIGHT-POINTING DOUBLE ANGLE QUOTATION MARK
    "\u201c": '"',  # LEFT DOUBLE QUOTATION MARK
    "\u201d": '"',  # RIGHT DOUBLE QUOTATION MARK
    "\u02ba": '"',  # MODIFIER LETTER DOUBLE PRIME
    "\u02ee": '"',  # MODIFIER LETTER DOUBLE APOSTROPHE
    "\u201f": '"',  # DOUBLE HIGH-REVERSED-9 QUOTATION MARK
    "\u201e": '"',  # DOUBLE LOW-9 QUOTATION MARK
    "\u275d": '"',  # HEAVY DOUBLE TURNED COMMA QUOTATION MARK ORNAMENT
    "\u275e": '"',  # HEAVY DOUBLE COMMA QUOTATION MARK ORNAMENT
    "\u301d": '"',  # REVERSED DOUBLE PRIME QUOTATION MARK
    "\u301e": '"',  # DOUBLE PRIME QUOTATION MARK
    "\uff02": '"',  # FULLWIDTH QUOTATION MARK
    # single quotation marks, apostrophes, accents
    "\u2018": "'",  # LEFT SINGLE QUOTATION MARK
    "\u2019": "'",  # RIGHT SINGLE QUOTATION MARK
    "\u02bb": "'",  # MODIFIER LETTER TURNED COMMA
    "\u02c8": "'",  # MODIFIER LETTER VERTICAL LINE
    "\u02bc": "'",  # MODIFIER LETTER APOSTROPHE
    "\u02bd": "'",  # MODIFIER LETTER REVERSED COMMA
    "\u02b9": "'",  # MODIFIER LETTER PRIME
    "\u201b": "'",  # SINGLE HIGH-REVERSED-9 QUOTATION MARK
    "\uff07": "'",  # FULLWIDTH APOSTROPHE
    "\u00b4": "'",  # ACUTE ACCENT
    "\u02ca": "'",  # MODIFIER LETTER ACUTE ACCENT
    "\u0060": "'",  # GRAVE ACCENT
    "\u02cb": "'",  # MODIFIER LETTER GRAVE ACCENT
    "\u275b": "'",  # HEAVY SINGLE TURNED COMMA QUOTATION MARK ORNAMENT
    "\u275c": "'",  # HEAVY SINGLE COMMA QUOTATION MARK ORNAMENT
    "\u0313": "'",  # COMBINING COMMA ABOVE
    "\u0314": "'",  # COMBINING REVERSED COMMA ABOVE
    "\ufe10": "'",  # PRESENTATION FORM FOR VERTICAL COMMA
    "\ufe11": "'",  # PRESENTATION FORM FOR VERTICAL IDEOGRAPHIC COMMA
    # slashes, fractions
    "\u00f7": "/",  # DIVISION SIGN
    "\u00bc": "1/4",  # VULGAR FRACTION ONE QUARTER
    "\u00bd": "1/2",  # VULGAR FRACTION ONE HALF
    "\u00be": "3/4",  # VULGAR FRACTION THREE QUARTERS
    "\u29f8": "/",  # BIG SOLIDUS
    "\u0337": "/",  # COMBINING SHORT SOLIDUS OVERLAY
    "\u0338": "/",  # COMBINING LONG SOLIDUS OVERLAY
    "\u2044": "/",  # FRACTION SLASH
    "\u2215": "/",  # DIVISION SLASH
    "\uff0f": "/",  # FULLWIDTH SOLIDUS
    "\u29f9": "\\",  # BIG REVERSE SOLIDUS
    "\u29f5": "\\",  # REVERSE SOLIDUS OPERATOR
    "\u20e5": "\\",  # COMBINING REVERSE SOLIDUS OVERLAY
    "\ufe68": "\\",  # SMALL REVERSE SOLIDUS
    "\uff3c": "\\",  # FULLWIDTH REVERSE SOLIDUS
    # low lines, vertical lines
    "\u0332": "_",  # COMBINING LOW LINE
    "\uff3f": "_",  # FULLWIDTH LOW LINE
    "\u2017": "_",  # DOUBLE LOW LINE
    "\u20d2": "|",  # COMBINING LONG VERTICAL LINE OVERLAY
    "\u20d3": "|",  # COMBINING SHORT VERTICAL LINE OVERLAY
    "\u2223": "|",  # DIVIDES
    "\uff5c": "|",  # FULLWIDTH VERTICAL LINE
    "\u23b8": "|",  # LEFT VERTICAL BOX LINE
    "\u23b9": "|",  # RIGHT VERTICAL BOX LINE
    "\u23d0": "|",  # VERTICAL LINE EXTENSION
    "\u239c": "|",  # LEFT PARENTHESIS EXTENSION
    "\u239f": "|",  # RIGHT PARENTHESIS EXTENSION
    # dashes, hyphens, bullets
    "\u23bc": "-",  # HORIZONTAL SCAN LINE-7
    "\u23bd": "-",  # HORIZONTAL SCAN LINE-9
    "\u2015": "-",  # HORIZONTAL BAR
    "\ufe63": "-",  # SMALL HYPHEN-MINUS
    "\uff0d": "-",  # FULLWIDTH HYPHEN-MINUS
    "\u2010": "-",  # HYPHEN
    "\u2043": "-",  # HYPHEN BULLET
    "\u2013": "-",  # EN DASH
    "\u2014": "-",  # EM DASH
    "\u2022": "-",  # BULLET
    # symbols and punctuation
    "\ufe6b": "@",  # SMALL COMMERCIAL AT
    "\uff20": "@",  # FULLWIDTH COMMERCIAL AT
    "\ufe69": "$",  # SMALL DOLLAR SIGN
    "\uff04": "$",  # FULLWIDTH DOLLAR SIGN
    "\u01c3": "!",  # LATIN LETTER RETROFLEX CLICK
    "\ufe15": "!",  # PRESENTATION FORM FOR VERTICAL EXCLAMATION MARK
    "\ufe57": "!",  # SMALL EXCLAMATION MARK
    "\uff01": "!",  # FULLWIDTH EXCLAMATION MARK
    "\u203c": "!!",  # DOUBLE EXCLAMATION MARK
    "\ufe5f": "#",  # SMALL NUMBER SIGN
    "\uff03": "#",  # FULLWIDTH NUMBER SIGN
    "\ufe6a": "%",  # SMALL PERCENT SIGN
    "\uff05": "%",  # FULLWIDTH PERCENT SIGN
    "\ufe60": "&",  # SMALL AMPERSAND
    "\uff06": "&",  # FULLWIDTH AMPERSAND
    "\u201a": ",",  # SINGLE LOW-9 QUOTATION MARK
    "\u0326": ",",  # COMBINING COMMA BELOW
    "\ufe50": ",",  # SMALL COMMA
    "\ufe51": ",",  # SMALL IDEOGRAPHIC COMMA
    "\uff0c": ",",  # FULLWIDTH COMMA
    "\uff64": ",",  # HALFWIDTH IDEOGRAPHIC COMMA
    "\u3001": ",",  # IDEOGRAPHIC COMMA
    "\u2768": "(",  # MEDIUM LEFT PARENTHESIS ORNAMENT
    "\u276a": "(",  # MEDIUM FLATTENED LEFT PARENTHESIS ORNAMENT
    "\ufe59": "(",  # SMALL LEFT PARENTHESIS
    "\uff08": "(",  # FULLWIDTH LEFT PARENTHESIS
    "\u27ee": "(",  # MATHEMATICAL LEFT FLATTENED PARENTHESIS
    "\u2985": "(",  # LEFT WHITE PARENTHESIS
    "\u2769": ")",  # MEDIUM RIGHT PARENTHESIS ORNAMENT
    "\u276b": ")",  # MEDIUM FLATTENED RIGHT PARENTHESIS ORNAMENT
    "\ufe5a": ")",  # SMALL RIGHT PARENTHESIS
    "\uff09": ")",  # FULLWIDTH RIGHT PARENTHESIS
    "\u27ef": ")",  # MATHEMATICAL RIGHT FLATTENED PARENTHESIS
    "\u2986": ")",  # RIGHT WHITE PARENTHESIS
    "\u204e": "*",  # LOW ASTERISK
    "\u2217": "*",  # ASTERISK OPERATOR
    "\u229b": "*",  # CIRCLED ASTERISK OPERATOR
    "\u2722": "*",  # FOUR TEARDROP-SPOKED ASTERISK
    "\u2723": "*",  # FOUR BALLOON-SPOKED ASTERISK
    "\u2724": "*",  # HEAVY FOUR BALLOON-SPOKED ASTERISK
    "\u2725": "*",  # FOUR CLUB-SPOKED ASTERISK
    "\u2731": "*",  # HEAVY ASTERISK
    "\u2732": "*",  # OPEN CENTRE ASTERISK
    "\u2733": "*",  # EIGHT SPOKED ASTERISK
    "\u273a": "*",  # SIXTEEN POINTED ASTERISK
    "\u273b": "*",  # TEARDROP-SPOKED ASTERISK
    "\u273c": "*",  # OPEN CENTRE TEARDROP-SPOKED ASTERISK
    "\u273d": "*",  # HEAVY TEARDROP-SPOKED ASTERISK
    "\u2743": "*",  # HEAVY TEARDROP-SPOKED PINWHEEL ASTERISK
    "\u2749": "*",  # BALLOON-SPOKED ASTERISK
    "\u274a": "*",  # EIGHT TEARDROP-SPOKED PROPELLER ASTERISK
    "\u274b": "*",  # HEAVY EIGHT TEARDROP-SPOKED PROPELLER ASTERISK
    "\u29c6": "*",  # SQUARED ASTERISK
    "\ufe61": "*",  # SMALL ASTERISK
    "\uff0a": "*",  # FULLWIDTH ASTERISK
    "\u02d6": "+",  # MODIFIER LETTER PLUS SIGN
    "\ufe62": "+",  # SMALL PLUS SIGN
    "\uff0b": "+",  # FULLWIDTH PLUS SIGN
    "\u3002": ".",  # IDEOGRAPHIC FULL STOP
    "\ufe52": ".",  # SMALL FULL STOP
    "\uff0e": ".",  # FULLWIDTH FULL STOP
    "\uff61": ".",  # HALFWIDTH IDEOGRAPHIC FULL STOP
    "\u2026": "...",  # HORIZONTAL ELLIPSIS
    "\u02d0": ":",  # MODIFIER LETTER TRIANGULAR COLON
    "\u02f8": ":",  # MODIFIER LETTER RAISED COLON
    "\u2982": ":",  # Z NOTATION TYPE COLON
    "\ua789": ":",  # MODIFIER LETTER COLON
    "\ufe13": ":",  # PRESENTATION FORM FOR VERTICAL COLON
    "\uff1a": ":",  # FULLWIDTH COLON
    "\u204f": ";",  # REVERSED SEMICOLON
    "\ufe14": ";",  # PRESENTATION FORM FOR VERTICAL SEMICOLON
    "\ufe54": ";",  # SMALL SEMICOLON
    "\uff1b": ";",  # FULLWIDTH SEMICOLON
    "\ufe64": "<",  # SMALL LESS-THAN SIGN
    "\uff1c": "<",  # FULLWIDTH LESS-THAN SIGN
    "\u2039": "<",  # SINGLE LEFT-POINTING ANGLE QUOTATION MARK (calculator: ">")
    "\u0347": "=",  # COMBINING EQUALS SIGN BELOW
    "\ua78a": "=",  # MODIFIER LETTER SHORT EQUALS SIGN
    "\ufe66": "=",  # SMALL EQUALS SIGN
    "\uff1d": "=",  # FULLWIDTH EQUALS SIGN
    "\ufe65": ">",  # SMALL GREATER-THAN SIGN
    "\uff1e": ">",  # FULLWIDTH GREATER-THAN SIGN
    "\u203a": ">",  # SINGLE RIGHT-POINTING ANGLE QUOTATION MARK (calculator: "<")
    "\ufe16": "?",  # PRESENTATION FORM FOR VERTICAL QUESTION MARK
    "\ufe56": "?",  # SMALL QUESTION MARK
    "\uff1f": "?",  # FULLWIDTH QUESTION MARK
    # fullwidth digits
    "\uff10": "0",
    "\uff11": "1",
    "\uff12": "2",
    "\uff13": "3",
    "\uff14": "4",
    "\uff15": "5",
    "\uff16": "6",
    "\uff17": "7",
    "\uff18": "8",
    "\uff19": "9",
    # fullwidth and small-capital Latin letters
    "\uff21": "A",
    "\u1d00": "A",
    "\uff22": "B",
    "\u0299": "B",
    "\uff23": "C",
    "\u1d04": "C",
    "\uff24": "D",
    "\u1d05": "D",
    "\uff25": "E",
    "\u1d07": "E",
    "\uff26": "F",
    "\ua730": "F",
    "\uff27": "G",
    "\u0262": "G",
    "\uff28": "H",
    "\u029c": "H",
    "\uff29": "I",
    "\u026a": "I",
    "\uff2a": "J",
    "\u1d0a": "J",
    "\uff2b": "K",
    "\u1d0b": "K",
    "\uff2c": "L",
    "\u029f": "L",
    "\uff2d": "M",
    "\u1d0d": "M",
    "\uff2e": "N",
    "\u0274": "N",
    "\uff2f": "O",
    "\u1d0f": "O",
    "\uff30": "P",
    "\u1d18": "P",
    "\uff31": "Q",
    "\uff32": "R",
    "\u0280": "R",
    "\uff33": "S",
    "\ua731": "S",
    "\uff34": "T",
    "\u1d1b": "T",
    "\uff35": "U",
    "\u1d1c": "U",
    "\uff36": "V",
    "\u1d20": "V",
    "\uff37": "W",
    "\u1d21": "W",
    "\uff38": "X",
    "\uff39": "Y",
    "\u028f": "Y",
    "\uff3a": "Z",
    "\u1d22": "Z",
    # extension-table look-alikes (these stay 2 septets each once rewritten)
    "\u02c6": "^",  # MODIFIER LETTER CIRCUMFLEX ACCENT
    "\u0302": "^",  # COMBINING CIRCUMFLEX ACCENT
    "\uff3e": "^",  # FULLWIDTH CIRCUMFLEX ACCENT
    "\u1dcd": "^",  # COMBINING DOUBLE CIRCUMFLEX ABOVE
    "\u2774": "{",  # MEDIUM LEFT CURLY BRACKET ORNAMENT
    "\ufe5b": "{",  # SMALL LEFT CURLY BRACKET
    "\uff5b": "{",  # FULLWIDTH LEFT CURLY BRACKET
    "\u2775": "}",  # MEDIUM RIGHT CURLY BRACKET ORNAMENT
    "\ufe5c": "}",  # SMALL RIGHT CURLY BRACKET
    "\uff5d": "}",  # FULLWIDTH RIGHT CURLY BRACKET
    "\uff3b": "[",  # FULLWIDTH LEFT SQUARE BRACKET
    "\uff3d": "]",  # FULLWIDTH RIGHT SQUARE BRACKET
    "\u02dc": "~",  # SMALL TILDE
    "\u02f7": "~",  # MODIFIER LETTER LOW TILDE
    "\u0303": "~",  # COMBINING TILDE
    "\u0330": "~",  # COMBINING TILDE BELOW
    "\u0334": "~",  # COMBINING TILDE OVERLAY
    "\u223c": "~",  # TILDE OPERATOR
    "\uff5e": "~",  # FULLWIDTH TILDE
    # spaces (the calculator maps the first block to two spaces; see the module docstring)
    "\u00a0": " ",  # NO-BREAK SPACE
    "\u2000": " ",  # EN QUAD
    "\u2001": " ",  # EM QUAD
    "\u2002": " ",  # EN SPACE
    "\u2003": " ",  # EM SPACE
    "\u2004": " ",  # THREE-PER-EM SPACE
    "\u2005": " ",  # FOUR-PER-EM SPACE
    "\u2006": " ",  # SIX-PER-EM SPACE
    "\u2007": " ",  # FIGURE SPACE
    "\u2008": " ",  # PUNCTUATION SPACE
    "\u2009": " ",  # THIN SPACE
    "\u200a": " ",  # HAIR SPACE
    "\u202f": " ",  # NARROW NO-BREAK SPACE
    "\u205f": " ",  # MEDIUM MATHEMATICAL SPACE
    "\u3000": " ",  # IDEOGRAPHIC SPACE
    "\u2028": " ",  # LINE SEPARATOR
    "\u2029": " ",  # PARAGRAPH SEPARATOR
    "\u0080": " ",  # C1 control: PADDING CHARACTER
    "\u008d": " ",  # C1 control: REVERSE LINE FEED
    "\u0090": " ",  # C1 control: DEVICE CONTROL STRING
    "\u009b": " ",  # C1 control: CONTROL SEQUENCE INTRODUCER
    "\u009f": " ",  # C1 control: APPLICATION PROGRAM COMMAND
    "\t": "       ",  # CHARACTER TABULATION: seven spaces, as in the calculator
    # invisible characters, dropped
    "\u0000": "",  # NULL
    "\u0003": "",  # END OF TEXT
    "\u0004": "",  # END OF TRANSMISSION
    "\u0010": "",  # DATA LINK ESCAPE
    "\u0011": "",  # DEVICE CONTROL ONE
    "\u0012": "",  # DEVICE CONTROL TWO
    "\u0013": "",  # DEVICE CONTROL THREE
    "\u0014": "",  # DEVICE CONTROL FOUR
    "\u0017": "",  # END OF TRANSMISSION BLOCK
    "\u0019": "",  # END OF MEDIUM
    "\u200b": "",  # ZERO WIDTH SPACE
    "\u2060": "",  # WORD JOINER
    "\ufeff": "",  # ZERO WIDTH NO-BREAK SPACE (byte order mark)
}


@dataclass(frozen=True)
class SegmentInfo:
    """How a body is encoded and how many SMS segments it takes."""

    encoding: str  # GSM7 or UCS2
    segments: int
    characters: int  # code points, len(body)
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    per_segment: int  # 160 or 153 (GSM-7), 70 or 67 (UCS-2), as applies to this message
    non_gsm_characters: tuple[str, ...]  # distinct characters that forced UCS-2, first-seen order


def _is_gsm7_char(char: str) -> bool:
    return char in _GSM7_BASIC or char in _GSM7_EXTENSION


def _pack(sizes: list[int], single: int, concat: int) -> int:
    """Segments needed for atoms of the given sizes, none of which may be split.

    If everything fits in one segment it takes one (the empty message included). Otherwise
    each segment loses room to the User Data Header and is filled greedily: an atom that does
    not fit in what is left of a segment starts the next one.
    """
    if sum(sizes) <= single:
        return 1
    segments, used = 1, 0
    for size in sizes:
        if used + size > concat:
            segments += 1
            used = 0
        used += size
    return segments


def count_segments(body: str) -> SegmentInfo:
    """Return the encoding, segment count and sizes of an SMS body, as Twilio counts them.

    No smart-encoding substitution is applied; see :func:`gsm7_rewrite` for that.
    """
    non_gsm = tuple(dict.fromkeys(char for char in body if not _is_gsm7_char(char)))
    if non_gsm:
        encoding, single, concat = UCS2, _UCS2_SINGLE, _UCS2_CONCAT
        sizes = [2 if ord(char) > 0xFFFF else 1 for char in body]
    else:
        encoding, single, concat = GSM7, _GSM7_SINGLE, _GSM7_CONCAT
        sizes = [2 if char in _GSM7_EXTENSION else 1 for char in body]
    segments = _pack(sizes, single, concat)
    return SegmentInfo(
        encoding=encoding,
        segments=segments,
        characters=len(body),
        units=sum(sizes),
        per_segment=single if segments == 1 else concat,
        non_gsm_characters=non_gsm,
    )


def is_gsm7(body: str) -> bool:
    """True if every character of ``body`` is in the GSM-7 alphabet or its extension table."""
    return all(_is_gsm7_char(char) for char in body)


def gsm7_rewrite(body: str) -> str | None:
    """Suggest a GSM-7 version of ``body`` using Twilio's smart-encoding replacements.

    Curly quotes become straight ones, dashes and bullets become ``-``, the ellipsis becomes
    ``...``, typographic spaces become a space, invisible characters are dropped, and so on.
    Returns the rewritten body (unchanged if it already was GSM-7), or None when characters
    without a replacement (emoji, accented letters outside GSM-7, other scripts) remain; the
    characters to blame are then in ``count_segments(body).non_gsm_characters``.
    """
    rewritten = "".join(_SMART_ENCODING.get(char, char) for char in body)
    return rewritten if is_gsm7(rewritten) else None
