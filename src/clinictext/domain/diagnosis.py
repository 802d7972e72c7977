"""Why is this message not delivered, and what should staff do? One pure function."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from clinictext.domain.carrier_errors import Effect, lookup
from clinictext.domain.checklist import Verification
from clinictext.domain.connector import ConnectorState
from clinictext.domain.retry import EXPIRED
from clinictext.domain.statuses import Status


@dataclass(frozen=True)
class Diagnosis:
    summary: str
    fix: str


@dataclass(frozen=True)
class MessageFacts:
    status: Status
    direction: str
    now: datetime
    timezone: str = "UTC"  # the organization's, for the times staff read
    error_code: str | None = None
    error_message: str | None = None
    due_at: datetime | None = None
    last_detail: str | None = None  # what the last status event said (a retry's reason)
    connector: ConnectorState = ConnectorState.UP
    connector_since: datetime | None = None
    sender_kind: str | None = None
    sender_verification: Verification = Verification.VERIFIED
    campaign: bool = False  # a campaign's text: its campaign may hold it (paused)


def _clock(at: datetime, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%H:%M")


def _when(at: datetime, f: MessageFacts) -> str:
    local = at.astimezone(ZoneInfo(f.timezone))
    today = f.now.astimezone(ZoneInfo(f.timezone)).date()
    return local.strftime("%H:%M") if local.date() == today else local.strftime("%Y-%m-%d %H:%M")


def diagnose(f: MessageFacts) -> Diagnosis | None:
    """None for a delivered or received message; otherwise why it is where it is."""
    if f.direction == "inbound" or f.status in (Status.DELIVERED, Status.RECEIVED):
        return None
    if f.status in (Status.FAILED, Status.UNDELIVERED):
        return _failed(f)
    if f.status is Status.CANCELED:
        return Diagnosis("Canceled before it was sent.", "Send a new text if it is still needed.")
    if f.status is Status.SENT:
        return Diagnosis(
            "Sent, but the carrier has not confirmed delivery (some carriers never confirm).",
            "Nothing to do. If the patient says it never arrived, check their wireless phone; "
            "refreshing the connector asks the provider for its latest status.",
        )
    return _pending(f)


def _pending(f: MessageFacts) -> Diagnosis:
    if f.campaign and f.due_at is None and f.status in (Status.QUEUED, Status.SCHEDULED):
        # A paused campaign takes its texts' due time back until it is resumed.
        return Diagnosis(
            "Pending: held because its campaign is paused.",
            "Resume the campaign to send it, or cancel the campaign.",
        )
    if f.sender_verification is not Verification.VERIFIED and f.status is not Status.SCHEDULED:
        what = (f.sender_kind or "sender").replace("_", "-")
        if f.sender_verification is Verification.FAILED:
            return Diagnosis(
                f"Pending because the provider could not verify the {what} sender number; "
                "texts cannot go out from it.",
                "Contact support to fix the number's verification, or add another number.",
            )
        return Diagnosis(
            f"Pending because the sender number is a {what} number still awaiting "
            "confirmation by the provider.",
            "Nothing to do: it goes out by itself once the number is confirmed (refresh the "
            "connector to check now).",
        )
    if f.connector is ConnectorState.DOWN:
        since = f" since {_when(f.connector_since, f)}" if f.connector_since else ""
        return Diagnosis(
            f"Pending because the SMS provider is unreachable (connector down{since}).",
            "Nothing to do: it resends by itself. If it lasts, check the provider credentials "
            "and refresh the connector.",
        )
    if f.status is Status.SCHEDULED and f.last_detail:
        return Diagnosis(
            f"Pending. {f.last_detail}",
            "Nothing to do: it goes out by itself. Cancel it if it should not go out.",
        )
    if f.status is Status.SCHEDULED:
        when = f" (goes out at {_when(f.due_at, f)})" if f.due_at else ""
        return Diagnosis(
            f"Pending because it is held for the send window or its send time{when}.",
            "Nothing to do: it goes out by itself. Cancel it if it should not go out.",
        )
    if f.status is Status.QUEUED and f.due_at is not None and f.due_at > f.now:
        why = f" after {f.last_detail.split(': ', 1)[-1]}" if f.last_detail else ""
        return Diagnosis(
            f"Pending: retrying at {_when(f.due_at, f)}{why}.",
            "Nothing to do: it resends by itself. Refresh the connector to retry now.",
        )
    if f.status is Status.SENDING:
        return Diagnosis(
            "Pending: being handed to the SMS provider; its answer is not recorded yet.",
            "Nothing to do: if the handover was interrupted it is checked with the provider "
            "before it is ever sent again.",
        )
    return Diagnosis(
        "Pending: queued and about to be handed to the SMS provider.",
        "Nothing to do: it goes out by itself within seconds.",
    )


def _failed(f: MessageFacts) -> Diagnosis:
    code = f.error_code
    entry = lookup(code)
    if code == EXPIRED:
        return Diagnosis(
            f"Failed: {f.error_message or 'the provider could not be reached in time'}.",
            "Check the connector (credentials, outage), refresh it, then send the text again.",
        )
    if entry is None:
        detail = f" ({code}: {f.error_message})" if code else ""
        return Diagnosis(
            f"Failed: the text was not delivered{detail}.",
            "Check the patient's wireless phone and try again; contact support if it keeps "
            "failing.",
        )
    if entry.effect is Effect.OPT_OUT:
        return Diagnosis(
            "Failed: the recipient opted out at the carrier (consent has been updated to "
            "opted out).",
            entry.fix,
        )
    if entry.effect in (Effect.PHONE_INVALID, Effect.PHONE_LANDLINE):
        return Diagnosis(
            f"Failed: the patient's wireless phone is invalid or a landline ({entry.meaning}; "
            f"error {code}).",
            entry.fix,
        )
    if entry.transient:
        return Diagnosis(
            f"Failed: {entry.meaning} (error {code}), still after retrying until the text expired.",
            "Check the patient's phone (or call them), then send the text again.",
        )
    return Diagnosis(f"Failed: {entry.meaning} (error {code}).", entry.fix)
