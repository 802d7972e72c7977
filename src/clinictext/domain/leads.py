"""Lead stages of the digital front door, and which of them keep the lead thread open."""

from __future__ import annotations

from enum import StrEnum


class LeadStage(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    CLOSED_WON = "closed_won"
    CLOSED_LOST = "closed_lost"


ACTIVE_STAGES = frozenset({LeadStage.OPEN, LeadStage.IN_PROGRESS})


class LeadChangeRefused(ValueError):
    """A stage change that cannot be recorded; ``str(err)`` says why."""


def is_active(stage: LeadStage | None) -> bool:
    """Two-way lead texting is open only while the lead is open or in progress."""
    return stage in ACTIVE_STAGES


def check_change(stage: LeadStage, substatus: str | None, reason: str | None) -> None:
    """Raise ``LeadChangeRefused`` when the new stage lacks what it needs."""
    if stage is LeadStage.CLOSED_LOST and not (reason and reason.strip()):
        raise LeadChangeRefused(
            "A lead closed as lost needs a reason (for example 'chose another clinic')."
        )
    if reason and stage is not LeadStage.CLOSED_LOST:
        raise LeadChangeRefused("A reason is only recorded when a lead is closed as lost.")


def describe(stage: LeadStage | None, substatus: str | None) -> str:
    """The stage as staff say it, e.g. 'closed won (scheduled)'."""
    if stage is None:
        return "not a lead"
    text = stage.value.replace("_", " ")
    return f"{text} ({substatus})" if substatus else text
