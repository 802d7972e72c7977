"""The Lead Dashboard: a column per lead stage with its count and its most active leads.

One query answers the whole board. It starts from the organization's patients
(``ix_patients_org_id``), joins their leads by patient (``uq_leads_patient_id``), finds
each one's newest message with one probe of ``ix_messages_org_patient``, and ranks the
leads of each stage by last activity (the newest message or the last stage change,
whichever is later) with a window function, so a column is cut to its newest cards while
its count stays the full count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import ScalarSelect

from clinictext.domain.leads import LeadStage
from clinictext.domain.phones import display
from clinictext.store.models import Lead, Message, Patient

EXCERPT_CHARS = 90
PER_STAGE = 50
_NANP = re.compile(r"\+1(\d{3})(\d{3})(\d{4})")
MAX_QUERY = 100

# Built once: an alias made per call costs more than the query it serves.
_NEWEST = aliased(Message, name="newest")
_LAST = aliased(Message, name="last_message")

# The columns, in the order a lead moves through them, with the words staff see.
STAGE_NAMES: dict[LeadStage, str] = {
    LeadStage.OPEN: "Open",
    LeadStage.IN_PROGRESS: "In progress",
    LeadStage.CLOSED_WON: "Closed won",
    LeadStage.CLOSED_LOST: "Closed lost",
}


@dataclass(frozen=True)
class LeadCard:
    patient_id: int
    first_name: str
    last_name: str
    phone: str | None
    unknown_sender: bool
    stage: LeadStage
    substatus: str | None
    reason: str | None
    unread_count: int
    last_direction: str | None
    last_excerpt: str | None
    last_truncated: bool
    activity_at: datetime

    @property
    def name(self) -> str:
        if self.unknown_sender or not (self.first_name or self.last_name).strip():
            return self.phone_display or "Unknown sender"
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def phone_display(self) -> str:
        return shown_phone(self.phone) if self.phone else ""


def shown_phone(e164: str) -> str:
    """``domain.phones.display``, with North American numbers formatted directly: parsing
    each of a full board's numbers would take longer than the board's query."""
    nanp = _NANP.fullmatch(e164)
    if nanp:
        return "({}) {}-{}".format(*nanp.groups())
    return display(e164)


@dataclass(frozen=True)
class Column:
    stage: LeadStage
    name: str
    count: int
    cards: list[LeadCard]

    @property
    def more(self) -> int:
        """Leads of this stage the column does not show."""
        return self.count - len(self.cards)


@dataclass(frozen=True)
class Board:
    columns: list[Column]
    query: str
    unread_only: bool

    @property
    def total(self) -> int:
        return sum(c.count for c in self.columns)


def _like(term: str) -> str:
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def matches(term: str) -> ColumnElement[bool]:
    """Patients whose name contains ``term``, or whose phone contains its digits."""
    full_name = func.lower(Patient.first_name + " " + Patient.last_name)
    found: list[ColumnElement[bool]] = [full_name.like(_like(term), escape="\\")]
    digits = re.sub(r"\D", "", term)
    if len(digits) >= 3:
        found.append(Patient.phone.like(f"%{digits}%"))
    return or_(*found)


def _newest(org_id: int, column: Any) -> ScalarSelect[Any]:
    """``column`` of the patient's newest message: one backward probe of
    ``ix_messages_org_patient``."""
    return (
        select(column)
        .where(_NEWEST.organization_id == org_id, _NEWEST.patient_id == Patient.id)
        .order_by(_NEWEST.id.desc())
        .limit(1)
        .correlate(Patient)
        .scalar_subquery()
    )


def board(
    session: Session,
    org_id: int,
    *,
    query: str | None = None,
    unread_only: bool = False,
    per_stage: int = PER_STAGE,
) -> Board:
    """The board: every stage with its count and its ``per_stage`` most recently active
    leads; ``query`` keeps leads whose name or phone matches, ``unread_only`` those with
    texts nobody has read."""
    term = (query or "").strip()[:MAX_QUERY]
    # The organization's leads, read once: ``leads`` has no index by organization, and a
    # planner without statistics (a freshly loaded database) would otherwise scan it again
    # for every patient.
    org_leads = (
        select(Lead.patient_id, Lead.stage, Lead.updated_at)
        .where(Lead.organization_id == org_id)
        .cte("org_leads")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    leads = (
        select(
            Patient.id.label("patient_id"),
            org_leads.c.stage,
            org_leads.c.updated_at.label("lead_at"),
            _newest(org_id, _NEWEST.id).label("last_id"),
            _newest(org_id, _NEWEST.created_at).label("last_at"),
        )
        # By primary key only: an organization condition here would tempt a planner
        # without statistics into scanning the organization's patients once per lead.
        # The lead row says whose it is; the shown cards check the patient's too.
        .select_from(org_leads)
        .join(Patient, Patient.id == org_leads.c.patient_id)
    )
    if term:
        leads = leads.where(matches(term))
    if unread_only:
        leads = leads.where(Patient.unread_count > 0)
    # Materialized, so PostgreSQL probes each lead's newest message once rather than once
    # for every place the ranking below mentions it.
    found = leads.cte("found").prefix_with("MATERIALIZED", dialect="postgresql")
    activity = case((found.c.last_at > found.c.lead_at, found.c.last_at), else_=found.c.lead_at)
    ranked = select(
        found.c.patient_id,
        found.c.stage,
        found.c.last_id,
        activity.label("activity_at"),
        func.row_number()
        .over(partition_by=found.c.stage, order_by=(activity.desc(), found.c.patient_id.desc()))
        .label("rank"),
        func.count().over(partition_by=found.c.stage).label("in_stage"),
    ).subquery("ranked")
    shown = select(ranked).where(ranked.c.rank <= per_stage).subquery("shown")
    # Names and bodies are read for the shown cards alone, each text by its primary key.
    last = _LAST
    excerpt = (
        select(func.substr(last.body, 1, EXCERPT_CHARS + 1))
        .where(last.id == shown.c.last_id)
        .scalar_subquery()
    )
    direction = select(last.direction).where(last.id == shown.c.last_id).scalar_subquery()
    rows = session.execute(
        select(
            shown.c.patient_id,
            shown.c.stage,
            shown.c.activity_at,
            shown.c.in_stage,
            Patient.first_name,
            Patient.last_name,
            Patient.phone,
            Patient.unknown_sender,
            Patient.unread_count,
            Lead.substatus,
            Lead.reason,
            direction.label("direction"),
            excerpt.label("excerpt"),
        )
        .select_from(shown)
        .join(Patient, and_(Patient.id == shown.c.patient_id, Patient.organization_id == org_id))
        .join(Lead, Lead.patient_id == shown.c.patient_id)
        .order_by(shown.c.stage, shown.c.rank)
    ).all()
    cards: dict[LeadStage, list[LeadCard]] = {stage: [] for stage in STAGE_NAMES}
    counts: dict[LeadStage, int] = dict.fromkeys(STAGE_NAMES, 0)
    for r in rows:
        stage = LeadStage(r.stage)
        counts[stage] = int(r.in_stage)
        excerpt = r.excerpt
        cards[stage].append(
            LeadCard(
                patient_id=r.patient_id,
                first_name=r.first_name,
                last_name=r.last_name,
                phone=r.phone,
                unknown_sender=bool(r.unknown_sender),
                stage=stage,
                substatus=r.substatus,
                reason=r.reason,
                unread_count=r.unread_count or 0,
                last_direction=r.direction,
                last_excerpt=excerpt[:EXCERPT_CHARS] if excerpt is not None else None,
                last_truncated=excerpt is not None and len(excerpt) > EXCERPT_CHARS,
                activity_at=r.activity_at,
            )
        )
    columns = [
        Column(stage, name, counts[stage], cards[stage]) for stage, name in STAGE_NAMES.items()
    ]
    return Board(columns, term, unread_only)
