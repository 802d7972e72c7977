"""How staff find a patient by name: the folded words a name is stored and searched as.

The name is stored folded ("José Peña" is "jose pena") in two orders, first-last and
last-first, so that one btree range on either key serves a prefix search on SQLite and
PostgreSQL alike, with no extension. Written by hand: the folding is a few lines of
``unicodedata``, and the search libraries that do more (trigrams, full text) are each tied
to one database.
"""

from __future__ import annotations

import unicodedata

NAME_KEY_CHARS = 200
_LETTER_FOLDS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d"})
_JOINERS = frozenset("'\u2019\u02bc`")  # O'Brien is found as "obrien" and as "o'b"


def search_words(raw: str) -> str:
    """``raw`` as names are compared: lower case, no accents, words one space apart."""
    kept = []
    for ch in unicodedata.normalize("NFKD", raw.casefold()).translate(_LETTER_FOLDS):
        if ch.isalnum():
            kept.append(ch)
        elif ch not in _JOINERS and unicodedata.category(ch)[0] != "M":  # M: accents
            kept.append(" ")
    return " ".join("".join(kept).split())[:NAME_KEY_CHARS]


def name_keys(first: str | None, last: str | None) -> tuple[str, str]:
    """A patient's stored search keys: the folded name first-last, and last-first."""
    first, last = first or "", last or ""
    return search_words(f"{first} {last}"), search_words(f"{last} {first}")
