"""What the patient page shows: one patient's conversation, commlogs and composer state.

Read-only gathering for the staff page, in a fixed number of queries however long the
conversation: the messages come with their status history, their diagnosis (the same one
``GET /messages/{id}`` gives) and a note saying what kind of text each one is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clinictext.domain.checklist import Channel, Check, SendKind
from clinictext.domain.confirm_reply import read as read_confirmation
from clinictext.domain.diagnosis import Diagnosis
from clinictext.domain.keywords import Keyword, classify
from clinictext.domain.leads import LeadStage, is_active
from clinictext.domain.statuses import Status, attempt_numbers, label
from clinictext.services import commlogs, messages
from clinictext.services.eligibility import Verdict, evaluate_patient
from clinictext.services.errors import Conflict, NotFound
from clinictext.services.leads import get_lead
from clinictext.services.patients import get_patient
from clinictext.store.models import Commlog, Message, User

# What a text is, when it is not simply typed by staff or by the patient.
_OUTBOUND_NOTES = {
    "auto_reply": "Automatic reply",
    "keyword_reply": "Keyword reply",
    "automated": "Automated message",
    "campaign": "Campaign text",
}
_KEYWORD_NOTES = {
    Keyword.OPT_OUT: "Keyword text: opt-out",
    Keyword.OPT_IN: "Keyword text: opt-in",
    Keyword.HELP: "Keyword text: help",
}
CHANNEL_WORDS = {"lead": "Lead", "clinic": "Clinic"}


@dataclass(frozen=True)
class HistoryEntry:
    status: str
    at: datetime
    attempt: int
    error_code: str | None
    detail: str | None


@dataclass(frozen=True)
class ShownMessage:
    id: int
    direction: str
    kind: str
    channel: str  # "Lead" or "Clinic"
    body: str
    status: str
    label: str  # "Pending", "Delivered", "Failed", "Received" (or "Canceled")
    at: datetime
    note: str | None  # keyword text, automatic reply...
    author: str | None  # the staff user who typed it, when one did
    diagnosis: Diagnosis | None
    history: list[HistoryEntry]
    error_code: str | None
    flagged: bool  # the reply waiting for review as a possible revocation


@dataclass(frozen=True)
class Conversation:
    messages: list[ShownMessage]  # oldest first
    earlier: int  # how many older texts are not shown


def note_for(message: Message) -> str | None:
    """Whether a text is a keyword, an automatic reply and so on, in words; None otherwise."""
    if message.direction == "inbound":
        keyword = classify(message.body)
        if keyword is not None:
            return _KEYWORD_NOTES.get(keyword)
        return (
            "Appointment confirmation reply" if read_confirmation(message.body).confirms else None
        )
    if message.kind == "automated" and message.rule_id is not None:
        return "Appointment reminder or confirmation"
    return _OUTBOUND_NOTES.get(message.kind)


def actor_names(session: Session, org_id: int, actors: Iterable[str]) -> dict[str, str]:
    """Who each audit actor is, in words: a staff user's email, "the patient", and so on."""
    wanted = set(actors)
    user_ids = sorted(
        int(a[5:]) for a in wanted if a.startswith("user:") and a[5:].isdecimal() and len(a) < 25
    )
    emails: dict[int, str] = {}
    if user_ids:
        rows = session.execute(
            select(User.id, User.email).where(User.organization_id == org_id, User.id.in_(user_ids))
        )
        emails = {uid: email for uid, email in rows}
    names: dict[str, str] = {}
    for actor in wanted:
        kind, _, ident = actor.partition(":")
        if kind == "user" and ident.isdecimal() and int(ident) in emails:
            names[actor] = emails[int(ident)]
        elif kind == "user":
            names[actor] = "a former staff user"
        elif kind == "api_key":
            names[actor] = "a program (API key)"
        elif actor == "patient":
            names[actor] = "the patient"
        else:
            names[actor] = actor  # "clinictext" itself
    return names


def _history(detail: messages.MessageDetail) -> list[HistoryEntry]:
    numbers = attempt_numbers([Status(e.status) for e in detail.events])
    return [
        HistoryEntry(e.status, e.at, n, e.error_code, e.detail)
        for e, n in zip(detail.events, numbers, strict=True)
    ]


def _needs_explaining(message: Message) -> bool:
    """A text staff sent that is not delivered: its diagnosis and history are shown."""
    return message.direction == "outbound" and message.status != Status.DELIVERED.value


def conversation(
    session: Session, org_id: int, patient_id: int, now: datetime, limit: int = 200
) -> Conversation:
    """The latest ``limit`` texts with one patient, oldest first, each with what it shows.

    Texts that are not delivered come with their diagnosis and status history; a delivered
    one's history is loaded when asked for (``message_history``), which keeps a long
    conversation quick to show.
    """
    patient = get_patient(session, org_id, patient_id)
    where = (Message.organization_id == org_id, Message.patient_id == patient.id)
    rows = list(
        session.scalars(select(Message).where(*where).order_by(Message.id.desc()).limit(limit))
    )
    rows.reverse()
    total = len(rows)
    if total == limit:
        total = int(session.scalar(select(func.count()).select_from(Message).where(*where)) or 0)
    explained = [m for m in rows if _needs_explaining(m)]
    details = {d.message.id: d for d in messages.with_details(session, explained)}
    ctx = messages.diagnosis_context(session, org_id, now) if explained else None
    authors = actor_names(session, org_id, (m.created_by for m in rows))
    shown = []
    for m in rows:
        status = Status(m.status)
        detail = details.get(m.id)
        shown.append(
            ShownMessage(
                id=m.id,
                direction=m.direction,
                kind=m.kind,
                channel=CHANNEL_WORDS.get(m.channel, m.channel.title()),
                body=m.body,
                status=status.value,
                label=label(status).value,
                at=m.created_at,
                note=note_for(m),
                author=authors[m.created_by] if m.created_by.startswith("user:") else None,
                diagnosis=messages.diagnosis(detail, ctx) if detail and ctx else None,
                history=_history(detail) if detail else [],
                error_code=m.error_code,
                flagged=patient.review_message_id == m.id,
            )
        )
    return Conversation(shown, max(0, total - len(shown)))


def message_history(
    session: Session, org_id: int, patient_id: int, message_id: int
) -> list[HistoryEntry]:
    """The status history of one of the patient's texts, oldest first."""
    message = messages.get_message(session, org_id, message_id)
    if message.patient_id != patient_id:
        raise NotFound(f"There is no message {message_id}.", code="message_not_found")
    return _history(messages.with_details(session, [message])[0])


def flagged_text(session: Session, org_id: int, patient_id: int) -> str | None:
    """The body of the reply waiting for review as a possible revocation, if any."""
    patient = get_patient(session, org_id, patient_id)
    if patient.review_flag is None or patient.review_message_id is None:
        return None
    message = session.get(Message, patient.review_message_id)
    if message is None or message.organization_id != org_id:
        return None
    return message.body


@dataclass(frozen=True)
class ShownCommlog:
    id: int
    at: datetime
    direction: str
    kind: str
    excerpt: str
    deletable: bool
    reason: str | None  # why it cannot be deleted, in the service's own words


def _not_deletable_reason(session: Session, org_id: int, row: Commlog) -> str | None:
    """The refusal ``delete_commlog`` gives for ``row`` (nothing is written: the savepoint
    is rolled back whatever happens)."""
    savepoint = session.begin_nested()
    try:
        commlogs.delete_commlog(session, org_id, row.id, "page")
    except Conflict as err:
        return err.message
    finally:
        savepoint.rollback()
    return None


def commlog_list(
    session: Session, org_id: int, patient_id: int, limit: int = 100
) -> tuple[list[ShownCommlog], int]:
    """The newest ``limit`` commlogs of a patient, newest first, and how many exist."""
    get_patient(session, org_id, patient_id)
    where = (
        Commlog.organization_id == org_id,
        Commlog.patient_id == patient_id,
        Commlog.deleted_at.is_(None),
    )
    rows = session.execute(
        select(Commlog, Message.body)
        .join(Message, Message.id == Commlog.message_id)
        .where(*where)
        .order_by(Commlog.id.desc())
        .limit(limit)
    ).all()
    total = len(rows)
    if total == limit:
        total = int(session.scalar(select(func.count()).select_from(Commlog).where(*where)) or 0)
    reason: str | None = None
    shown = []
    for row, body in rows:
        ok = commlogs.deletable(row)
        if not ok and reason is None:
            # Every received text's commlog is refused for the same reason: ask once.
            reason = _not_deletable_reason(session, org_id, row)
        excerpt = body if len(body) <= 80 else body[:79] + "…"
        shown.append(
            ShownCommlog(
                row.id, row.at, row.direction, row.kind, excerpt, ok, None if ok else reason
            )
        )
    return shown, total


@dataclass(frozen=True)
class ComposerState:
    """Can staff text this patient on ``channel`` right now, and if not, why."""

    channel: Channel
    verdict: Verdict
    lead_active: bool

    @property
    def ok(self) -> bool:
        return self.verdict.ok

    @property
    def failing(self) -> list[Check]:
        """The failing checks, in the checklist's order."""
        return [c for c in self.verdict.checks if not c.ok]

    @property
    def offer_clinic(self) -> bool:
        """The lead thread is closed: the clinic channel is the way to reach the patient."""
        return self.channel is Channel.LEAD and any(c.id == "lead_stage" for c in self.failing)

    @property
    def key(self) -> str:
        """Changes whenever what the composer shows (apart from the typed text) changes."""
        sender = self.verdict.sender.number if self.verdict.sender else ""
        parts = [self.channel.value, sender, *(f"{c.id}:{c.detail}:{c.fix}" for c in self.failing)]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16]


def default_channel(session: Session, org_id: int, patient_id: int) -> Channel:
    """Lead while the patient's lead is active, else clinic."""
    lead = get_lead(session, org_id, patient_id)
    return Channel.LEAD if lead and is_active(LeadStage(lead.stage)) else Channel.CLINIC


def composer_state(
    session: Session, org_id: int, patient_id: int, channel: Channel, now: datetime
) -> ComposerState:
    verdict = evaluate_patient(session, org_id, patient_id, channel, SendKind.MANUAL, now=now)
    lead = get_lead(session, org_id, patient_id)
    return ComposerState(channel, verdict, bool(lead and is_active(LeadStage(lead.stage))))
