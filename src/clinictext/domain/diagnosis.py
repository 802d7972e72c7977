"""Why is this message not delivered, and what should staff do? One pure function."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from clinictext.domain.statuses import Status


@dataclass(frozen=True)
class Diagnosis:
    summary: str
    fix: str


@dataclass(frozen=True)
class MessageFacts:
    status: Status
    direction: str
    error_code: str | None = None
    error_message: str | None = None
    due_at: datetime | None = None


def diagnose(m: MessageFacts) -> Diagnosis | None:
    """None for a delivered or received message; otherwise why it is where it is."""
    if m.direction == "inbound" or m.status is Status.DELIVERED:
        return None
    if m.status is Status.SCHEDULED:
        when = f" until {m.due_at:%Y-%m-%d %H:%M} UTC" if m.due_at else ""
        return Diagnosis(
            f"Pending: held{when} and sent then by itself.",
            "Nothing to do. Cancel it if it should not go out.",
        )
    if m.status is Status.QUEUED:
        return Diagnosis(
            "Pending: accepted by clinictext and waiting to be handed to the SMS provider.",
            "Nothing to do; it goes out by itself as soon as the dispatcher picks it up.",
        )
    if m.status is Status.SENDING:
        return Diagnosis(
            "Pending: being handed to the SMS provider; its answer is not recorded yet.",
            "Nothing to do; it is checked with the provider before it is ever sent again.",
        )
    if m.status is Status.SENT:
        return Diagnosis(
            "Sent: the provider accepted it, but the carrier has not confirmed delivery "
            "(some carriers never confirm).",
            "Nothing to do; if the patient says it never arrived, check their wireless phone.",
        )
    if m.status is Status.CANCELED:
        return Diagnosis("Canceled before it was sent.", "Send a new text if it is still needed.")
    reason = f" ({m.error_code}: {m.error_message})" if m.error_code else ""
    return Diagnosis(
        f"Failed: the text was not delivered{reason}.",
        "Check the patient's wireless phone and try again; contact support if it keeps failing.",
    )
