"""Is a patient's text an appointment confirmation (SPEC §4), and what clinictext answers.

Pure: no I/O and no clock. ``read(body)`` answers the first question:

* ``C``, ``Confirm`` or ``Confirmed`` (any case; spaces, punctuation and emoji around or
  between the letters ignored: ``" c. "``, ``"C!"``, ``"Confirmed 👍"``) confirms the
  patient's next appointment (``Reply.kind`` ``next``);
* a token shaped like a confirm code (six characters of the code alphabet with a letter and
  a digit, see ``domain.appointments``), also written with spaces or dashes inside
  (``"ac3 7rk"``, ``"AC3-7RK"``) or after one of those words (``"Confirm AC37RK"``), names
  the appointment to confirm (``code``);
* anything else is not a confirmation (``none``): the text flows on as any other. "Yes" is
  not read as a confirmation: it is the carrier's opt-in keyword, and keywords go first.
  "OK", "yes C" or a sentence are left to staff, who see every reply in the conversation.

Why so narrow: a patient's text that is wrongly taken as a confirmation tells the clinic
someone is coming who did not say so; a missed one costs only a call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from clinictext.domain.appointments import CODE_LENGTH, is_confirm_code
from clinictext.domain.keywords import prepare


class ReplyKind(StrEnum):
    NONE = "none"
    NEXT = "next"  # "C": the patient's next appointment
    CODE = "code"  # the appointment with this confirm code


@dataclass(frozen=True)
class Reply:
    kind: ReplyKind
    code: str | None = None

    @property
    def confirms(self) -> bool:
        return self.kind is not ReplyKind.NONE


NOT_A_CONFIRMATION = Reply(ReplyKind.NONE)
CONFIRM_WORDS = frozenset({"C", "CONFIRM", "CONFIRMED"})
# Longer texts are sentences; reading them costs time and risks a wrong confirmation.
MAX_LENGTH = 60
_SEPARATORS = re.compile(r"[\W_]+")


def read(body: str) -> Reply:
    """What this whole text asks for (see module)."""
    if len(body) > MAX_LENGTH:
        return NOT_A_CONFIRMATION
    tokens = [t for t in _SEPARATORS.split(prepare(body).upper()) if t]
    if not tokens or not all(t.isascii() for t in tokens):
        return NOT_A_CONFIRMATION
    joined = "".join(tokens)
    if joined in CONFIRM_WORDS:
        return Reply(ReplyKind.NEXT)
    if tokens[0] in CONFIRM_WORDS and len(tokens) > 1:
        joined = "".join(tokens[1:])
    if len(joined) == CODE_LENGTH and is_confirm_code(joined):
        return Reply(ReplyKind.CODE, joined)
    return NOT_A_CONFIRMATION


def thank_you(org_name: str, when: str, place: str | None) -> str:
    """The answer to a confirmation; ``when`` as ``appointments.when_words`` writes it."""
    at = f" at {place}" if place else ""
    return f"{org_name}: Thank you! Your appointment on {when}{at} is confirmed."


def already_confirmed(org_name: str, when: str, place: str | None) -> str:
    """The answer to a confirmation of an appointment confirmed before."""
    at = f" at {place}" if place else ""
    return f"{org_name}: Your appointment on {when}{at} is already confirmed. Thank you!"


def no_match(org_name: str, phone: str | None) -> str:
    """The answer to a "C" or a code that names no appointment of this patient."""
    call = f"Please call {phone}." if phone else "Please call the office."
    return f"{org_name}: We could not match that to an appointment. {call}"
