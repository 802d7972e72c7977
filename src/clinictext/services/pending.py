"""Pending texts grouped by why they are pending: the connector page's "how many, and why".

Each pending text is diagnosed exactly as its own answer is (``messages.diagnosis``), so
the connector page and a message's detail always give the same reason. Texts whose
reasons differ only in a time ("retrying at 10:42", "at 10:44") fall into one group.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clinictext.domain.statuses import PENDING, Status
from clinictext.services import messages
from clinictext.store.models import Message, MessageEvent, Patient, SenderNumber

# Diagnosing costs a few rows per text; beyond this many (the oldest are taken) the page
# groups a sample and says so.
GROUPED_AT_MOST = 500
EXAMPLES = 3
_TIMES = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}|\d{1,2}:\d{2}")


@dataclass(frozen=True)
class Example:
    patient_id: int
    name: str


@dataclass
class PendingGroup:
    summary: str  # the reason, as given for the oldest text of the group
    fix: str
    count: int = 0
    times_differ: bool = False  # the reasons name different times; the oldest is shown
    examples: list[Example] = field(default_factory=list)


@dataclass(frozen=True)
class PendingTexts:
    total: int  # every pending outbound text of the organization
    grouped: int  # how many of them the groups cover (all, unless there are very many)
    groups: Sequence[PendingGroup]


def reason_key(summary: str, fix: str) -> str:
    """The reason with its times taken out: what makes two texts pending for one reason."""
    return _TIMES.sub("…", summary) + "\n" + fix


def pending_by_diagnosis(session: Session, org_id: int, now: datetime) -> PendingTexts:
    """The organization's pending texts grouped by diagnosis, largest group first."""
    pending = [s.value for s in PENDING]
    scope = (
        Message.organization_id == org_id,
        Message.direction == "outbound",
        Message.status.in_(pending),
    )
    total = int(session.scalar(select(func.count()).select_from(Message).where(*scope)) or 0)
    if total == 0:
        return PendingTexts(0, 0, [])
    rows = list(
        session.scalars(select(Message).where(*scope).order_by(Message.id).limit(GROUPED_AT_MOST))
    )
    ids = [m.id for m in rows]
    last_ids = select(func.max(MessageEvent.id)).where(MessageEvent.message_id.in_(ids))
    last_event = {
        e.message_id: e
        for e in session.scalars(
            select(MessageEvent).where(
                MessageEvent.id.in_(last_ids.group_by(MessageEvent.message_id))
            )
        )
    }
    sender_ids = {m.sender_number_id for m in rows if m.sender_number_id is not None}
    senders = {
        s.id: s
        for s in session.scalars(select(SenderNumber).where(SenderNumber.id.in_(sender_ids)))
    }
    names = {
        pid: f"{first} {last}".strip()
        for pid, first, last in session.execute(
            select(Patient.id, Patient.first_name, Patient.last_name).where(
                Patient.id.in_({m.patient_id for m in rows})
            )
        )
    }
    ctx = messages.diagnosis_context(session, org_id, now)
    groups: dict[str, PendingGroup] = {}
    for m in rows:
        event = last_event.get(m.id)
        sender = senders.get(m.sender_number_id) if m.sender_number_id is not None else None
        detail = messages.MessageDetail(m, [event] if event else [], [], sender)
        diagnosis = messages.diagnosis(detail, ctx)
        if diagnosis is None:  # cannot happen for a pending text; never hide one either
            summary, fix = f"Pending ({Status(m.status).value}).", "Nothing to do."
        else:
            summary, fix = diagnosis.summary, diagnosis.fix
        group = groups.setdefault(reason_key(summary, fix), PendingGroup(summary, fix))
        group.count += 1
        group.times_differ = group.times_differ or summary != group.summary
        known = {e.patient_id for e in group.examples}
        if len(group.examples) < EXAMPLES and m.patient_id not in known:
            group.examples.append(Example(m.patient_id, names.get(m.patient_id, "")))
    ordered = sorted(groups.values(), key=lambda g: -g.count)
    return PendingTexts(total, len(rows), ordered)
