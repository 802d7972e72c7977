"""Consent: the current state of a phone number, derived from its append-only ledger.

The ledger is per organization and phone number, so an opt-out covers every sender
number of the organization. Only the patient can undo an opt-out they made themselves
(a STOP keyword, or a STOP the carrier reports): staff cannot opt them back in, and what
staff record after it (an opt-out of their own, a free-text revocation) does not lift
that lock: it holds until the patient texts START.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ConsentAction(StrEnum):
    OPT_IN = "opt_in"
    OPT_OUT = "opt_out"


class ConsentLevel(StrEnum):
    INFORMATIONAL = "informational"
    MARKETING = "marketing"


class ConsentState(StrEnum):
    NONE = "none"
    OPTED_IN = "opted_in"
    OPTED_OUT = "opted_out"


class OptInSource(StrEnum):
    WEB_FORM = "web_form"
    PAPER_FORM = "paper_form"
    VERBAL = "verbal"
    IMPORT = "import"
    API = "api"
    KEYWORD = "keyword"  # the patient texted START/UNSTOP/YES: recorded by inbound processing


class OptOutSource(StrEnum):
    KEYWORD = "keyword"
    STAFF = "staff"
    CAMPAIGN = "campaign"
    CARRIER = "carrier"
    FREE_TEXT = "free_text"


# Opt-outs the patient made at their own phone: only the patient can reverse them.
PATIENT_HELD_OPT_OUTS = frozenset({OptOutSource.KEYWORD, OptOutSource.CARRIER})
# Opt-in sources staff may record; `keyword` is reserved for the patient's own text.
STAFF_OPT_IN_SOURCES = frozenset(OptInSource) - {OptInSource.KEYWORD}

_LEVEL_RANK = {ConsentLevel.INFORMATIONAL: 1, ConsentLevel.MARKETING: 2}


@dataclass(frozen=True)
class ConsentEvent:
    action: ConsentAction
    source: str
    at: datetime
    level: ConsentLevel | None = None  # opt-ins only


@dataclass(frozen=True)
class Consent:
    state: ConsentState
    level: ConsentLevel | None  # the highest level granted since the last opt-out
    since: datetime | None
    source: str | None  # the source of the event that set the state
    # The source of the patient's own opt-out (keyword or carrier) while it holds: only the
    # patient's START lifts it, whatever staff record after it.
    patient_lock: str | None = None

    @property
    def locked_by_patient(self) -> bool:
        """True when only the patient's own START can lift this opt-out."""
        return self.patient_lock is not None

    def allows(self, level: ConsentLevel) -> bool:
        """Whether texts that need ``level`` consent may go to this number."""
        if self.state is not ConsentState.OPTED_IN or self.level is None:
            return False
        return _LEVEL_RANK[self.level] >= _LEVEL_RANK[level]


NO_CONSENT = Consent(ConsentState.NONE, None, None, None)


def derive(events: Iterable[ConsentEvent]) -> Consent:
    """Fold the ledger (oldest first) into the current consent."""
    current = NO_CONSENT
    for event in events:
        if event.action is ConsentAction.OPT_OUT:
            lock = event.source if event.source in PATIENT_HELD_OPT_OUTS else current.patient_lock
            current = Consent(ConsentState.OPTED_OUT, None, event.at, event.source, lock)
            continue
        if current.locked_by_patient and event.source != OptInSource.KEYWORD:
            continue  # only the patient's own START lifts their STOP (never recorded since)
        level = event.level or ConsentLevel.INFORMATIONAL
        if current.state is ConsentState.OPTED_IN and current.level is not None:
            if _LEVEL_RANK[current.level] >= _LEVEL_RANK[level]:
                continue  # a lower or equal opt-in adds nothing
            current = Consent(ConsentState.OPTED_IN, level, current.since, event.source)
        else:
            current = Consent(ConsentState.OPTED_IN, level, event.at, event.source)
    return current


class ConsentRefused(ValueError):
    """A consent change that must not be recorded; ``str(err)`` says why and what to do."""


def check_staff_opt_in(current: Consent, source: str) -> None:
    """Raise ``ConsentRefused`` when staff may not record this opt-in."""
    if source not in STAFF_OPT_IN_SOURCES:
        raise ConsentRefused(
            f"An opt-in with source '{source}' can only come from the patient's own text message."
        )
    if current.locked_by_patient:
        how = (
            "replied STOP"
            if current.patient_lock == OptOutSource.KEYWORD
            else "blocked texts at the carrier"
        )
        raise ConsentRefused(
            f"The patient {how}, so only the patient can opt back in: "
            "ask them to text START to the clinic's number."
        )


# The one kind of text that may reach an opted-out number: clinictext's answer to the
# patient's own keyword (the opt-out confirmation, or a HELP they sent after it).
KEYWORD_REPLY = "keyword_reply"


def hand_off_refusal(consent: Consent, kind: str, created_at: datetime) -> str | None:
    """Why a text may not go to the provider now, or None: the check at the last moment.

    The send path already ran the whole checklist; what can change between then and the
    provider call is an opt-out. After one, nothing goes but keyword replies written at
    or after it (the confirmation); anything older is canceled with the reason.
    """
    if consent.state is not ConsentState.OPTED_OUT:
        return None
    if kind == KEYWORD_REPLY and consent.since is not None and created_at >= consent.since:
        return None
    return "canceled: the patient opted out before it was sent"
