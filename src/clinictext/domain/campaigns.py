"""Campaigns: what staff may do with one now, what it is doing, and what its preview says.

A campaign's stored status is what staff last made it (``draft``, ``scheduled``,
``running``, ``paused``, ``canceled``); ``done`` is never stored but read from its texts:
a started campaign with nothing left to hand to the provider is done. So the status staff
see is :func:`current_status` of the stored one, the send time, the clock and the number of
texts still pending, and every action is allowed or refused (:func:`check`) against that.

Why refusals are sentences: a button that does nothing, or an HTTP 409 without a reason,
leaves the office guessing whether a campaign is still going out to 10,000 patients.

Pure: no database, no clock (``now`` is an argument).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from clinictext.domain.checklist import CHECK_IDS
from clinictext.domain.statuses import Status


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELED = "canceled"
    DONE = "done"


class Action(StrEnum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"


class Refused(ValueError):
    """An action the campaign's status does not allow; ``str(err)`` says why and what to do."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# Texts of a started campaign that have not been handed to the provider, or not answered.
PENDING_STATUSES = (Status.SCHEDULED, Status.QUEUED, Status.SENDING)


def current_status(
    stored: str, send_at: datetime | None, now: datetime, pending: int
) -> CampaignStatus:
    """The status staff see: the stored one, with ``done`` and ``scheduled`` read from time.

    ``pending`` counts the campaign's texts in :data:`PENDING_STATUSES`. A started campaign
    (scheduled, running or paused) with none pending is done; a scheduled one whose send
    time has come is running.
    """
    status = CampaignStatus(stored)
    if status in (CampaignStatus.DRAFT, CampaignStatus.CANCELED, CampaignStatus.DONE):
        return status
    if pending == 0:
        return CampaignStatus.DONE
    if status is CampaignStatus.SCHEDULED and (send_at is None or send_at <= now):
        return CampaignStatus.RUNNING
    return status


_ALLOWED: Mapping[Action, frozenset[CampaignStatus]] = {
    Action.START: frozenset({CampaignStatus.DRAFT}),
    Action.PAUSE: frozenset({CampaignStatus.SCHEDULED, CampaignStatus.RUNNING}),
    Action.RESUME: frozenset({CampaignStatus.PAUSED}),
    Action.CANCEL: frozenset(
        {
            CampaignStatus.DRAFT,
            CampaignStatus.SCHEDULED,
            CampaignStatus.RUNNING,
            CampaignStatus.PAUSED,
        }
    ),
}

_NEW_CAMPAIGN = "create a new campaign to send it again"


def _refusal(action: Action, status: CampaignStatus) -> Refused:
    if status is CampaignStatus.CANCELED:
        return Refused(
            f"This campaign was canceled, so it cannot {action.value} any more: {_NEW_CAMPAIGN}.",
            "campaign_canceled",
        )
    if status is CampaignStatus.DONE:
        return Refused(
            f"This campaign has finished: every text was handed to the provider, so there is "
            f"nothing left to {action.value}. To send it again, {_NEW_CAMPAIGN}.",
            "campaign_done",
        )
    if action is Action.START:
        return Refused(
            f"This campaign was already started (it is {status.value}); a campaign starts "
            "once. Pause or cancel it instead.",
            "campaign_started",
        )
    if action is Action.PAUSE:
        if status is CampaignStatus.PAUSED:
            return Refused("This campaign is already paused; resume it to go on.", "not_running")
        return Refused(
            "This campaign has not been started, so there is nothing to pause: start it first.",
            "not_started",
        )
    if action is Action.RESUME:
        if status is CampaignStatus.DRAFT:
            return Refused(
                "This campaign has not been started, so there is nothing to resume: start it.",
                "not_started",
            )
        return Refused(
            f"This campaign is {status.value}, not paused, so there is nothing to resume.",
            "not_paused",
        )
    return Refused(f"A {status.value} campaign cannot be {action.value}ed.", "not_allowed")


def check(action: Action, status: CampaignStatus) -> None:
    """Raise ``Refused`` unless ``action`` is allowed for a campaign that is ``status``."""
    if status not in _ALLOWED[action]:
        raise _refusal(action, status)


def started_status(send_at: datetime | None, now: datetime) -> CampaignStatus:
    """The stored status of a campaign started (or resumed) at ``now``."""
    if send_at is not None and send_at > now:
        return CampaignStatus.SCHEDULED
    return CampaignStatus.RUNNING


# --- the preview -------------------------------------------------------------------------------

# Why a patient of the audience gets no text, beyond the checklist's own check ids.
UNKNOWN_SENDER = "unknown_sender"
SHARED_PHONE = "shared_phone"
BODY = "body"
SEND_WINDOW = "send_window"
SKIP_IDS = (UNKNOWN_SENDER, *CHECK_IDS, SHARED_PHONE, BODY, SEND_WINDOW)

# One line a skip reason, for reports that list thousands of patients (the checklist's own
# sentence, with the patient's details, is on the preview of the skipped patients).
SKIP_SUMMARY: Mapping[str, str] = {
    "sms_enabled": "Texting is not enabled, or the carrier registration is not approved.",
    "sender_number": "There is no verified sending number for this campaign's channel.",
    "phone": "No wireless phone that can receive texts (missing, landline or invalid).",
    "consent": "No marketing consent: never opted in, opted in to care texts only, or opted out.",
    "lead_stage": "The lead stage does not allow texting on the lead number.",
    "spend_limit": "The monthly spend limit is reached.",
    UNKNOWN_SENDER: "An unknown sender (a number that texted in), not a patient yet: "
    "merge it into the right patient.",
    SHARED_PHONE: "Another patient of the audience has the same phone number and gets the "
    "text: one text goes to each number.",
    BODY: "The text filled in for this patient cannot be sent (too long, or a character "
    "that cannot be sent).",
    SEND_WINDOW: "No time in the coming week is inside the send window for this patient.",
}

# A few words a skip reason, for the columns and lists of the pages (the consent check is
# split into its two causes there).
SKIP_LABEL: Mapping[str, str] = {
    "sms_enabled": "Texting not enabled for the clinic",
    "sender_number": "No number to send from",
    "phone": "No valid wireless phone",
    "consent": "No marketing consent",
    "not_opted_in": "Not opted in to marketing texts",
    "opted_out": "Opted out",
    "lead_stage": "Lead stage does not allow it",
    "spend_limit": "Over the spend limit",
    "unknown_sender": "Unknown sender, not a known patient",
    "shared_phone": "Shares a phone with a patient who gets it",
    "body": "Their text cannot be sent",
    "send_window": "No time inside the send window",
}


def skip_label(reason: str) -> str:
    """The few words for a skip reason, or the id in words when it has none."""
    return SKIP_LABEL.get(reason, reason.replace("_", " ").capitalize())


@dataclass(frozen=True)
class Preview:
    """How many patients of the audience get the text, how many are skipped, and why.

    ``skip_reasons`` counts by reason: a patient failing two checks counts under both, so
    the counts may add up to more than ``skipped``, which counts patients.
    """

    recipients: int
    skipped: int
    skip_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def audience(self) -> int:
        return self.recipients + self.skipped

    def as_json(self) -> dict[str, Any]:
        return {
            "recipients": self.recipients,
            "skipped": self.skipped,
            "skip_reasons": dict(self.skip_reasons),
        }


def summarize(recipients: int, skips: Iterable[Iterable[str]]) -> Preview:
    """The preview of ``recipients`` patients to text and one entry a skipped patient
    (its failing reasons); reasons are listed in :data:`SKIP_IDS` order."""
    counts: Counter[str] = Counter()
    skipped = 0
    for reasons in skips:
        skipped += 1
        counts.update(set(reasons))
    order = {reason: n for n, reason in enumerate(SKIP_IDS)}
    ordered = sorted(counts, key=lambda r: (order.get(r, len(order)), r))
    return Preview(recipients, skipped, {r: counts[r] for r in ordered})


# --- a recipient's status ---------------------------------------------------------------------

SKIPPED = "skipped"
RECIPIENT_STATUSES = (SKIPPED, *(s.value for s in Status if s is not Status.RECEIVED))
# A filter on "failed" shows what staff see labelled Failed: failed and undelivered texts.
FILTER_STATUSES: Mapping[str, tuple[str, ...]] = {
    **{s: (s,) for s in RECIPIENT_STATUSES},
    Status.FAILED.value: (Status.FAILED.value, Status.UNDELIVERED.value),
}


def recipient_status(skip_reason: str | None, message_status: str | None) -> str:
    """``skipped``, or the status of the text written for the recipient."""
    if skip_reason is not None or message_status is None:
        return SKIPPED
    return message_status


# The keys of a campaign's progress counts; "failed" counts every text labelled Failed.
COUNT_KEYS = (
    "recipients",
    "skipped",
    "scheduled",
    "queued",
    "sending",
    "sent",
    "delivered",
    "failed",
    "canceled",
)


def progress(by_status: Mapping[str, int], skipped: int) -> dict[str, int]:
    """The progress counts from the number of the campaign's texts in each status."""
    counts = dict.fromkeys(COUNT_KEYS, 0)
    for status, n in by_status.items():
        key = Status.FAILED.value if status == Status.UNDELIVERED.value else status
        if key in counts:
            counts[key] += n
    counts["recipients"] = sum(by_status.values())
    counts["skipped"] = skipped
    return counts


def pending(by_status: Mapping[str, int]) -> int:
    """How many of the campaign's texts are not yet handed over and answered."""
    return sum(by_status.get(s.value, 0) for s in PENDING_STATUSES)


class Retry(StrEnum):
    """What becomes of a campaign or appointment text the dispatcher must try again."""

    GO = "go"  # back to the queue, as any text
    HOLD = "hold"  # its campaign is paused: held until it is resumed
    CANCEL = "cancel"  # its campaign or appointment is over: it must not go out


ENDED_APPOINTMENT = ("canceled", "completed", "no_show")


def on_retry(campaign_status: str | None, appointment_status: str | None) -> Retry:
    """A text handed to the provider before its campaign was paused or canceled (or its
    appointment ended) may come back for another attempt (a retryable error, an outage, a
    crash): it follows its campaign or appointment as it is now, not as it was."""
    if campaign_status == CampaignStatus.CANCELED.value:
        return Retry.CANCEL
    if campaign_status == CampaignStatus.PAUSED.value:
        return Retry.HOLD
    if appointment_status in ENDED_APPOINTMENT:
        return Retry.CANCEL
    return Retry.GO
