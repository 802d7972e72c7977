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

from dataclasses import replace
from datetime import datetime

from clinictext.domain.checklist import Check, TextingFacts, evaluate
from clinictext.domain.consent import Consent
from clinictext.domain.leads import LeadStage
from clinictext.domain.phones import PhoneStatus
from clinictext.domain.segments import GSM7, SegmentInfo, count_segments
from clinictext.domain.send_window import Window, patient_zones, state_for
from clinictext.domain.window_search import NoSendWindowError, Placement, place

_NoWindow = NoSendWindowError


class ChecklistMemo:
    """``evaluate`` for many patients of one organization, channel and kind."""

    def __init__(self, org_facts: TextingFacts) -> None:
        # ``org_facts`` carries the organization's facts; its patient fields are replaced.
        self._org = org_facts
        self._outcomes: dict[tuple[object, ...], tuple[str, ...]] = {}

    def facts(
        self,
        *,
        phone: str | None,
        phone_status: PhoneStatus,
        phone_reason: str,
        consent: Consent,
        lead_stage: LeadStage | None,
        lead_substatus: str | None,
        in_conversation: bool,
    ) -> TextingFacts:
        """The checklist's facts for one patient."""
        return replace(
            self._org,
            phone=phone,
            phone_status=phone_status,
            phone_reason=phone_reason,
            consent=consent,
            lead_stage=lead_stage,
            lead_substatus=lead_substatus,
            in_conversation=in_conversation,
        )

    def failing(
        self,
        *,
        phone: str | None,
        phone_status: PhoneStatus,
        phone_reason: str,
        consent: Consent,
        lead_stage: LeadStage | None,
        lead_substatus: str | None,
        in_conversation: bool,
    ) -> tuple[str, ...]:
        """The ids of the checks that fail for this patient, in the checklist's order."""
        key = (
            phone is None,
            phone_status,
            consent.state,
            consent.level,
            lead_stage,
            in_conversation,
        )
        found = self._outcomes.get(key)
        if found is None:
            facts = self.facts(
                phone=phone,
                phone_status=phone_status,
                phone_reason=phone_reason,
                consent=consent,
                lead_stage=lead_stage,
                lead_substatus=lead_substatus,
                in_conversation=in_conversation,
            )
            found = tuple(c.id for c in evaluate(facts) if not c.ok)
            self._outcomes[key] = found
        return found

    def checks(self, facts: TextingFacts) -> list[Check]:
        """Every check with its sentences, for one patient (where they are shown)."""
        return evaluate(facts)


def _number_key(phone: str | None) -> str | None:
    """What decides a number's state and time zones: the first seven digits of a North
    American number (+1, area code, exchange), else the whole number."""
    if phone is not None and len(phone) == 12 and phone.startswith("+1") and phone[1:].isdigit():
        return phone[:8]
    return phone


class WindowMemo:
    """``place`` for many patients: when each one's text may go out, from ``at`` on."""

    def __init__(self, at: datetime, window: Window, org_tz: str) -> None:
        self.at = at
        self.window = window
        self.org_tz = org_tz
        self._zones: dict[tuple[str | None, str | None], tuple[str | None, tuple[str, ...]]] = {}
        self._placements: dict[tuple[str | None, tuple[str, ...]], Placement | _NoWindow] = {}

    def place(self, phone: str | None, timezone: str | None) -> Placement:
        """Where this patient's text lands; ``NoSendWindowError`` when it never can."""
        key = (_number_key(phone), timezone)
        where = self._zones.get(key)
        if where is None:
            state = state_for(phone) if phone else None
            where = (state, patient_zones(phone, timezone, self.org_tz))
            self._zones[key] = where
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


class SegmentMemo:
    """``count_segments`` for many texts that differ by a name or two."""

    def __init__(self) -> None:
        self._plain: dict[str, bool] = {}  # character -> one GSM-7 septet
        self._by_length: dict[int, SegmentInfo] = {}

    def _all_plain(self, body: str) -> bool:
        plain = self._plain
        for char in set(body):
            known = plain.get(char)
            if known is None:
                info = count_segments(char)
                known = plain[char] = info.encoding == GSM7 and info.units == 1
            if not known:
                return False
        return True

    def count(self, body: str) -> SegmentInfo:
        if not self._all_plain(body):
            return count_segments(body)
        found = self._by_length.get(len(body))
        if found is None:
            found = self._by_length[len(body)] = count_segments(body)
        return found
