"""Which carrier message, if any, is the one a text interrupted by a crash became.

A worker that died after handing texts to the provider and before recording the answer
leaves texts whose provider id is unknown. The provider lists what it sent to a number
from a sender; a text is that list's message with the same body, dated no earlier than
the text (less clock skew). Two rules keep a crash from duplicating a text:

- a carrier message belongs to one text only: one already owned by another text (or by
  an attempt given up for a retry), or matched to an earlier text in this round, is never
  matched again;
- when several unowned messages fit (a patient sent the same body twice), the earliest
  goes to the earliest text, and the reason says that the match was ambiguous.

A text nothing matches was never received by the provider and is sent again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

# How far before a text's creation a provider record may be dated (clock skew).
SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class Text:
    message_id: int
    body: str
    created_at: datetime


@dataclass(frozen=True)
class Candidate:
    provider_id: str
    body: str
    created_at: datetime | None


@dataclass(frozen=True)
class Match:
    message_id: int
    provider_id: str | None  # None: the provider never received it
    why: str


def match(texts: Iterable[Text], candidates: Iterable[Candidate], owned: set[str]) -> list[Match]:
    """Pair each text (to one number, from one sender) with at most one carrier message."""
    free = sorted(
        (c for c in candidates if c.provider_id not in owned),
        key=lambda c: (c.created_at is None, c.created_at or datetime.min, c.provider_id),
    )
    matches: list[Match] = []
    for text in sorted(texts, key=lambda t: (t.created_at, t.message_id)):
        fits = [
            c
            for c in free
            if c.body == text.body
            and (c.created_at is None or c.created_at >= text.created_at - SKEW)
        ]
        if not fits:
            matches.append(Match(text.message_id, None, "the provider has no unclaimed copy of it"))
            continue
        chosen = fits[0]
        free.remove(chosen)
        why = "the provider's only unclaimed copy of it"
        if len(fits) > 1:
            why = (
                f"the earliest of {len(fits)} unclaimed carrier messages with this body "
                "(several texts to this number share it)"
            )
        matches.append(Match(text.message_id, chosen.provider_id, why))
    return matches
