"""The same rules for many patients at once: the checklist, the send window and segments.

A campaign asks, for each of up to 100,000 patients, what one staff text asks: may they be
texted (``domain.checklist.evaluate``), when may the text go out (``domain.window_search.
place``), and how many segments is it (``domain.segments.count_segments``). Asked one
patient at a time these cost tens to hundreds of microseconds each (phone-number metadata,
time-zone arithmetic), seconds for a campaign. But the answers depend on far fewer facts
than a patient has, so each memo here computes the real answer once per class of patients
whose answers cannot differ, with the real function on the first patient of the class:

* the checklist's outcome (which checks fail) depends on whether there is a phone and its
  status, the consent's state and level, the lead stage and whether the patient texted
  recently; the organization's facts are the same for all. The sentences (which name the
  phone number and dates) are computed per patient only where they are shown.
* the send window depends on the number's state and time zones, which libphonenumber
  decides for a North American number by its area code and exchange (its first seven
  digits), and on the patient's explicit time zone.
* the segments of a text made only of one-septet GSM-7 characters depend on its length.

The tests compare every memo with the function it stands for.

Pure: no database, no clock.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import NamedTuple

from clinictext.domain.checklist import Check, TextingFacts, evaluate
from clinictext.domain.consent import Consent
from clinictext.domain.leads import LeadStage
from clinictext.domain.phones import PhoneStatus
from clinictext.domain.replies import in_conversation
from clinictext.domain.segments import GSM7, SegmentInfo, count_segments
from clinictext.domain.send_window import Window, patient_zones, state_for
from clinictext.domain.window_search import NoSendWindowError, Placement, place


class PatientFacts(NamedTuple):
    """One patient as the rules see them (a tuple: campaigns hold 100,000 of them)."""

    id: int
    first_name: str
    last_name: str
    phone: str | None
    phone_status: PhoneStatus
    phone_reason: str
    timezone: str | None
    language: str
    unknown_sender: bool
    last_inbound_at: datetime | None
    consent: Consent
    lead_stage: LeadStage | None
    lead_substatus: str | None

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class ChecklistMemo:
    """``evaluate`` for many patients of one organization, channel and kind."""

    def __init__(self, org_facts: TextingFacts, now: datetime) -> None:
        # ``org_facts`` carries the organization's facts; its patient fields are replaced.
        self._org = org_facts
        self._now = now
        self._outcomes: dict[tuple[object, ...], tuple[str, ...]] = {}

    def _talking(self, p: PatientFacts) -> bool:
        return p.last_inbound_at is not None and in_conversation(p.last_inbound_at, self._now)

    def facts(self, p: PatientFacts) -> TextingFacts:
        """The checklist's facts for one patient."""
        return replace(
            self._org,
            phone=p.phone,
            phone_status=p.phone_status,
            phone_reason=p.phone_reason,
            consent=p.consent,
            lead_stage=p.lead_stage,
            lead_substatus=p.lead_substatus,
            in_conversation=self._talking(p),
        )

    def failing(self, p: PatientFacts) -> tuple[str, ...]:
        """The ids of the checks that fail for this patient, in the checklist's order."""
        consent = p.consent
        key = (
            p.phone is None,
            p.phone_status,
            consent.state,
            consent.level,
            p.lead_stage,
            p.last_inbound_at is not None and self._talking(p),
        )
        found = self._outcomes.get(key)
        if found is None:
            found = tuple(c.id for c in evaluate(self.facts(p)) if not c.ok)
            self._outcomes[key] = found
        return found

    def checks(self, p: PatientFacts) -> list[Check]:
        """Every check with its sentences, for one patient (where they are shown)."""
        return evaluate(self.facts(p))


def _nanp(phone: str | None) -> bool:
    return (
        phone is not None
        and len(phone) == 12
        and phone.startswith("+1")
        and phone[1:].isdecimal()
        and phone[2] not in "01"
    )


# Where numbers are: (number key, explicit zone, organization's zone) -> (state, zones). The
# answer comes from libphonenumber's fixed metadata, so one table serves every campaign of
# the process; it is emptied when it grows past its bound.
_WHERE: dict[tuple[str | None, str | None, str], tuple[str | None, tuple[str, ...]]] = {}
_WHERE_MAX = 200_000
# The state whose calling-hours law applies, by the area code of a North American number.
_STATE_BY_AREA: dict[str, str | None] = {}


def _state(phone: str) -> str | None:
    """``state_for``: for a North American number it reads only the area code."""
    if not _nanp(phone):
        return state_for(phone)
    area = phone[:5]
    if area not in _STATE_BY_AREA:
        _STATE_BY_AREA[area] = state_for(phone)
    return _STATE_BY_AREA[area]


def where_is(
    phone: str | None, timezone: str | None, org_tz: str
) -> tuple[str | None, tuple[str, ...]]:
    """The state and time zones ``place`` finds for this patient (``state_for`` and
    ``patient_zones``), looked up once per area code and exchange of a North American
    number (libphonenumber decides them by those first seven digits), else per number."""
    number = phone[:8] if phone is not None and _nanp(phone) else phone
    key = (number, timezone, org_tz)
    found = _WHERE.get(key)
    if found is None:
        if len(_WHERE) >= _WHERE_MAX:
            _WHERE.clear()
        state = _state(phone) if phone else None
        found = _WHERE[key] = (state, patient_zones(phone, timezone, org_tz))
    return found


class WindowMemo:
    """``place`` for many patients: when each one's text may go out, from ``at`` on."""

    def __init__(self, at: datetime, window: Window, org_tz: str) -> None:
        self.at = at
        self.window = window
        self.org_tz = org_tz
        self._placements: dict[
            tuple[str | None, tuple[str, ...]], Placement | NoSendWindowError
        ] = {}

    def place(self, phone: str | None, timezone: str | None) -> Placement:
        """Where this patient's text lands; ``NoSendWindowError`` when it never can."""
        where = where_is(phone, timezone, self.org_tz)
        found = self._placements.get(where)
        if found is None:
            try:
                found = place(self.at, self.window, phone, timezone, self.org_tz)
            except NoSendWindowError as err:
                found = err
            self._placements[where] = found
        if isinstance(found, NoSendWindowError):
            raise found
        return found


def _plain_characters() -> str:
    """The characters that take one GSM-7 septet, as ``count_segments`` counts them (the
    GSM-7 default alphabet is Latin-1 letters and Greek capitals, all below U+0400)."""
    plain = []
    for code in range(0x400):
        info = count_segments(chr(code))
        if info.encoding == GSM7 and info.units == 1:
            plain.append(chr(code))
    return "".join(plain)


class SegmentMemo:
    """``count_segments`` for many texts that differ by a name or two."""

    def __init__(self) -> None:
        self._not_plain = re.compile(f"[^{re.escape(_plain_characters())}]")
        self._by_length: dict[int, SegmentInfo] = {}

    def count(self, body: str) -> SegmentInfo:
        if self._not_plain.search(body) is not None:
            return count_segments(body)
        found = self._by_length.get(len(body))
        if found is None:
            found = self._by_length[len(body)] = count_segments(body)
        return found
