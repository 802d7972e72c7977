"""Is this whole inbound text a carrier keyword (SPEC §4)? Pure: no I/O, no clock.

``classify(body)`` answers it. Opt-out STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE,
OPTOUT, OPT-OUT; opt-in START, UNSTOP, YES; help HELP, INFO. Matching is on the *whole*
message:

* Unicode is normalised (NFKC: fullwidth ``ＳＴＯＰ`` is ``STOP``), zero-width and other
  invisible format characters (ZWSP, ZWJ, BOM, soft hyphen, word joiner…) are removed,
  and dashes (en/em dash, non-breaking hyphen, minus…) count as ``-``.
* Case does not matter (compared after ``str.upper()``, so a Turkish dotless ``quıt`` is
  ``QUIT``).
* Whitespace, punctuation and symbols (emoji included) at either end are ignored:
  ``"  stop "``, ``"Stop."``, ``"STOP!!!"``, ``"stop?"``, ``'"STOP"'`` and
  ``"STOP 🛑"`` are all STOP. A message that merely *is* STOP should never be missed, and
  carriers accept these forms.
* Whitespace and hyphens *inside* the word are ignored: ``"OPT OUT"``, ``"opt-out"``,
  ``"OPT - OUT"`` and ``"optout"`` are all OPT-OUT, ``"STOP ALL"`` is STOPALL.
* Anything else makes it a sentence, not a keyword: ``"stop by tomorrow"``,
  ``"STOP IT PLEASE"``, ``"stop texting me"``, ``"STOP STOP"``, ``"cancel my
  appointment"`` all return ``None``. The sentences that ask to stop are caught by
  ``clinictext.domain.revocation.detect_revocation``, which is asked second and flags them
  for staff review.

``prepare`` (NFKC, invisible characters removed, smart quotes and dashes made plain) is the
text preparation both questions share.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from functools import lru_cache


class Keyword(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"


OPT_OUT_WORDS = (
    "STOP",
    "STOPALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "REVOKE",
    "OPTOUT",
    "OPT-OUT",
)
OPT_IN_WORDS = ("START", "UNSTOP", "YES")
HELP_WORDS = ("HELP", "INFO")


# --------------------------------------------------------------------------------------------
# Text preparation, shared with domain.revocation
# --------------------------------------------------------------------------------------------

# Invisible characters removed everywhere (besides every other format character, category Cf).
_INVISIBLE = frozenset("\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff\u00ad")
_SMART = str.maketrans(
    {
        "\u2010": "-",  # hyphen
        "\u2011": "-",  # non-breaking hyphen
        "\u2012": "-",  # figure dash
        "\u2013": "-",  # en dash
        "\u2014": "-",  # em dash
        "\u2015": "-",  # horizontal bar
        "\u2212": "-",  # minus sign
        "\u2043": "-",  # hyphen bullet
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u02bc": "'",  # modifier letter apostrophe
        "\u00b4": "'",
        "`": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u00ab": '"',
        "\u00bb": '"',
    }
)


def prepare(body: str) -> str:
    """NFKC, invisible characters removed, smart quotes and dashes made plain."""
    text = unicodedata.normalize("NFKC", body)
    text = "".join(c for c in text if c not in _INVISIBLE and unicodedata.category(c) != "Cf")
    return text.translate(_SMART)


# --------------------------------------------------------------------------------------------
# classify: carrier keywords
# --------------------------------------------------------------------------------------------

_KEYWORDS: dict[str, Keyword] = {
    **{w.replace("-", ""): Keyword.OPT_OUT for w in OPT_OUT_WORDS},
    **{w: Keyword.OPT_IN for w in OPT_IN_WORDS},
    **{w: Keyword.HELP for w in HELP_WORDS},
}
_INNER_GAPS = re.compile(r"[\s\-]+")


def _is_edge_noise(char: str) -> bool:
    """Whitespace, punctuation, symbols (emoji), controls and emoji modifiers at an end."""
    if char.isspace():
        return True
    category = unicodedata.category(char)
    if category[0] in "PSZC":
        return True
    # Variation selectors (emoji presentation), combining keycap, combining enclosing marks.
    return category in ("Mn", "Me") and (
        "\ufe00" <= char <= "\ufe0f" or "\U000e0100" <= char <= "\U000e01ef" or category == "Me"
    )


def _keyword_form(body: str) -> str:
    text = unicodedata.normalize("NFKC", prepare(body).upper())
    start, end = 0, len(text)
    while start < end and _is_edge_noise(text[start]):
        start += 1
    while end > start and _is_edge_noise(text[end - 1]):
        end -= 1
    return _INNER_GAPS.sub("", text[start:end])


@lru_cache(maxsize=1024)
def classify(body: str) -> Keyword | None:
    """The carrier keyword this whole message is, or ``None`` for any other message.

    Remembered for recent bodies: receiving one text asks it several times (the batch,
    the replies, the revocation detector, the confirmations)."""
    return _KEYWORDS.get(_keyword_form(body))
