"""Reading messages and their status history.

A page of messages is read in a fixed number of statements however long it is: the page,
then its status events, provider calls and sender numbers, one ``IN`` list each
(``with_details``). The events and calls are read as plain rows, not ORM objects: a page
shows them and never changes them, and building 200 tracked objects cost more than the
statements that fetch them.

Only a pending text's diagnosis reads its sender number, the organization's clock and the
connector's state (``DiagnosisContext`` loads the last two when first asked), so a page of
delivered, failed and received texts reads none of them: on PostgreSQL each statement is
a round trip, and those were three of a page's eight.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, make_transient_to_detached

from clinictext.domain.checklist import SenderFact, Verification
from clinictext.domain.connector import ConnectorView
from clinictext.domain.diagnosis import Diagnosis, MessageFacts, diagnose
from clinictext.domain.statuses import Status
from clinictext.services import audit, message_events
from clinictext.services import connector as connectors
from clinictext.services.errors import Invalid, NotFound
from clinictext.services.orgs import get_org
from clinictext.services.patients import Page, get_patient, parse_cursor
from clinictext.store.bulk import InsertChain, InsertMany
from clinictext.store.models import (
    AuditEvent,
    Commlog,
    Message,
    MessageEvent,
    ProviderAttempt,
    SenderNumber,
)

DIRECTIONS = ("outbound", "inbound")


def store_new(session: Session, message: Message, detail: str | None = None) -> Message:
    """Store a new message with its first status event and its commlog (every message,
    sent or received, has one), without a flush.

    The message's row is inserted on its own: a plain ``INSERT ... RETURNING id`` with
    every column given (the defaults filled in on the object first), so the object is
    what the row holds and joins the session as stored. Its history row and its commlog
    wait for the next flush, or, inside ``message_events.buffered``, for its ``write``
    (in a batch, one statement for the batch). One path for sent and received texts,
    instead of the unit of work's two flushes per text (one to learn the id, one for the
    rows that need it).
    """
    if session.in_nested_transaction():
        # Inside a savepoint that may be rolled back the message must be one the session
        # added: a rollback then forgets it (an object joined as stored would stay, with
        # the id the database gives the next message).
        session.add(message)
        session.flush()
    else:
        row = _row(message)
        _join(session, message, session.connection().execute(_INSERT_MESSAGE, row).scalar_one())
    _first_rows(session, message, detail)
    return message


def store_new_audited(
    session: Session, message: Message, audit_row: dict[str, Any], detail: str | None = None
) -> Message:
    """``store_new`` with the audit entry of the message's creation (``audit.row``, whose
    ``entity_id`` becomes the message's id). On PostgreSQL the four rows go in one
    statement (``InsertChain``): a text sent by staff is one round trip, not four."""
    if session.in_nested_transaction():
        store_new(session, message, detail)
        audit.insert_row(session, {**audit_row, "entity_id": message.id})
        return message
    row = _row(message)
    message_id = _INSERT_WITH_HISTORY.run(
        session.connection(),
        row,
        [
            message_events.history_row(message, message.status, message.created_at, detail),
            message_events.commlog_row(message),
            audit_row,
        ],
    )
    _join(session, message, message_id)
    return message


def store_many(session: Session, messages: Sequence[Message]) -> None:
    """``store_new`` for several new messages (a batch of received texts): their rows go in
    one ``INSERT ... RETURNING id`` (a few multi-row statements on either database, and on
    PostgreSQL one round trip instead of one a text), and each joins the session with the
    id returned for it, in order."""
    if len(messages) < 2 or session.in_nested_transaction():
        for message in messages:
            store_new(session, message)
        return
    ids = _INSERT_MESSAGES.run(session.connection(), [_row(message) for message in messages])
    for message, message_id in zip(messages, ids, strict=True):
        _join(session, message, message_id)
        _first_rows(session, message, None)


def _row(message: Message) -> dict[str, Any]:
    """The row of a new message, every column given: its defaults are filled in on the
    object itself first, written into its own dict rather than through its attributes (it
    is about to join as a stored object whose values are the row's, and
    ``make_transient_to_detached`` forgets any change history, so tracking each default as
    a change would be wasted work)."""
    row: dict[str, Any] = {}
    given = message.__dict__
    for key, (column, default) in _COLUMNS.items():
        if key not in given:
            given[key] = default
        row[column] = given[key]
    return row


def _join(session: Session, message: Message, message_id: int) -> None:
    """The message, inserted as ``message_id``, joins the session as a stored object."""
    message.__dict__["id"] = message_id
    make_transient_to_detached(message)
    session.add(message)


def _first_rows(session: Session, message: Message, detail: str | None) -> None:
    message_events.record(session, message, message.status, message.created_at, detail=detail)
    message_events.commlog(session, message)


def _message_columns() -> dict[str, tuple[str, Any]]:
    """Each attribute of a message but its id -> its column and the value it defaults to."""
    columns: dict[str, tuple[str, Any]] = {}
    for attr in sa_inspect(Message).column_attrs:
        column = attr.columns[0]
        if column.primary_key:
            continue
        default = column.default
        if column.server_default is not None or (default is not None and not default.is_scalar):
            raise TypeError(f"messages.{column.key}: a default only the database knows")
        columns[attr.key] = (column.key, default.arg if default is not None else None)
    return columns


_COLUMNS = _message_columns()
_MESSAGES: Table = Message.__table__  # type: ignore[assignment]
_HISTORY: Table = MessageEvent.__table__  # type: ignore[assignment]
_COMMLOGS: Table = Commlog.__table__  # type: ignore[assignment]
_AUDIT: Table = AuditEvent.__table__  # type: ignore[assignment]
_INSERT_MESSAGES = InsertMany(_MESSAGES)
_INSERT_MESSAGE = _INSERT_MESSAGES.any_order  # one row, its id
_INSERT_WITH_HISTORY = InsertChain(
    _MESSAGES,
    [
        (_HISTORY, "message_id", message_events.HISTORY_COLUMNS),
        (_COMMLOGS, "message_id", message_events.COMMLOG_COLUMNS),
        (_AUDIT, "entity_id", audit.COLUMNS),
    ],
)


def get_message(session: Session, org_id: int, message_id: int) -> Message:
    message = session.get(Message, message_id)
    if message is None or message.organization_id != org_id:
        raise NotFound(f"There is no message {message_id}.", code="message_not_found")
    return message


def history(session: Session, message: Message) -> Sequence[Event | MessageEvent]:
    return with_details(session, [message])[0].events


def list_messages(
    session: Session,
    org_id: int,
    *,
    patient_id: int | None = None,
    status: str | None = None,
    direction: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """Newest first; the cursor continues below the last id returned."""
    query = select(Message).where(Message.organization_id == org_id)
    if patient_id is not None:
        query = query.where(Message.patient_id == patient_id)
    if status is not None:
        query = query.where(Message.status == status)
    if direction is not None:
        if direction not in DIRECTIONS:
            raise Invalid("direction must be 'outbound' or 'inbound'.", code="invalid_direction")
        query = query.where(Message.direction == direction)
    before = parse_cursor(cursor)
    if before is not None:
        query = query.where(Message.id < before)
    rows = list(session.scalars(query.order_by(Message.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    if patient_id is not None and not rows:  # a message of this organization proves its patient
        get_patient(session, org_id, patient_id)
    return Page(rows, str(rows[-1].id) if more else None)


def attempts(session: Session, message: Message) -> list[Call]:
    """The provider calls made for this message, oldest first."""
    return with_details(session, [message])[0].attempts


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a message's status history, as it is shown."""

    status: str
    at: datetime
    error_code: str | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class Call:
    """One provider call made for a message (the provider log), as it is shown."""

    at: datetime
    operation: str
    outcome: str
    http_status: int | None
    elapsed_ms: int
    error: str | None
    request: dict[str, Any]
    response: dict[str, Any] | None


_EVENT_COLUMNS = (
    MessageEvent.status,
    MessageEvent.at,
    MessageEvent.error_code,
    MessageEvent.detail,
)
_CALL_COLUMNS = (
    ProviderAttempt.at,
    ProviderAttempt.operation,
    ProviderAttempt.outcome,
    ProviderAttempt.http_status,
    ProviderAttempt.elapsed_ms,
    ProviderAttempt.error,
    ProviderAttempt.request,
    ProviderAttempt.response,
)


@dataclass(frozen=True)
class MessageDetail:
    """A message with what its answer shows: status history, provider calls, sender
    (None when not loaded: only a pending text's diagnosis reads it)."""

    message: Message
    events: Sequence[Event | MessageEvent]  # oldest first
    attempts: list[Call]  # oldest first
    sender: SenderNumber | SenderFact | None


def with_details(session: Session, rows: Sequence[Message]) -> list[MessageDetail]:
    """``rows`` with their details, in the same order, in three queries however many."""
    return _details(session, rows, pending_senders=False)


def page_details(session: Session, rows: Sequence[Message]) -> list[MessageDetail]:
    """``rows`` with what their answers show, in two queries however many (three when a
    pending text needs its sender number: only its diagnosis reads one).

    The status events and provider calls stay two statements: one ``UNION ALL`` of both
    saved a round trip but cost more Python per row than the round trip it saved.
    """
    return _details(session, rows, pending_senders=True)


def _details(
    session: Session, rows: Sequence[Message], *, pending_senders: bool
) -> list[MessageDetail]:
    ids = [m.id for m in rows]
    events: dict[int, list[Event | MessageEvent]] = defaultdict(list)
    calls: dict[int, list[Call]] = defaultdict(list)
    if ids:
        for message_id, status, at, error_code, detail in session.execute(
            select(MessageEvent.message_id, *_EVENT_COLUMNS)
            .where(MessageEvent.message_id.in_(ids))
            .order_by(MessageEvent.message_id, MessageEvent.id)
        ):
            events[message_id].append(Event(status, at, error_code, detail))
        for row in session.execute(
            select(ProviderAttempt.message_id, *_CALL_COLUMNS)
            .where(ProviderAttempt.message_id.in_(ids))
            .order_by(ProviderAttempt.message_id, ProviderAttempt.id)
        ):
            calls[row.message_id].append(
                Call(
                    row.at,
                    row.operation,
                    row.outcome,
                    row.http_status,
                    row.elapsed_ms,
                    row.error,
                    row.request,
                    row.response,
                )
            )
    senders = _senders(session, rows, pending_only=pending_senders)
    return [
        MessageDetail(
            m,
            events[m.id],
            calls[m.id],
            senders.get(m.sender_number_id) if m.sender_number_id is not None else None,
        )
        for m in rows
    ]


def _senders(
    session: Session, rows: Sequence[Message], *, pending_only: bool
) -> dict[int, SenderNumber]:
    ids = sorted(
        {
            m.sender_number_id
            for m in rows
            if m.sender_number_id is not None and (not pending_only or is_pending(m))
        }
    )
    if not ids:
        return {}
    return {
        sender.id: sender
        for sender in session.scalars(select(SenderNumber).where(SenderNumber.id.in_(ids)))
    }


class DiagnosisContext:
    """What every message of one organization is diagnosed against, loaded once and only
    when a message needs it: only a pending text's diagnosis reads the organization's
    timezone and the connector's state, so a page of delivered, failed and received texts
    reads neither."""

    def __init__(
        self,
        session: Session,
        org_id: int,
        now: datetime,
        *,
        timezone: str | None = None,
        connector: ConnectorView | None = None,
    ) -> None:
        self.now = now
        self._session, self._org_id = session, org_id
        if timezone is not None:
            self.__dict__["timezone"] = timezone
        if connector is not None:
            self.__dict__["connector"] = connector

    @cached_property
    def timezone(self) -> str:
        return get_org(self._session, self._org_id).timezone

    @cached_property
    def connector(self) -> ConnectorView:
        return connectors.view(self._session, self._org_id, self.now)


def diagnosis_context(session: Session, org_id: int, now: datetime) -> DiagnosisContext:
    return DiagnosisContext(session, org_id, now)


def is_pending(message: Message) -> bool:
    """An outbound text not yet handed over: its diagnosis reads the sender number, the
    connector and the organization's clock; every other message's reads neither."""
    return message.direction == "outbound" and message.status in _PENDING


_PENDING = frozenset(s.value for s in (Status.SCHEDULED, Status.QUEUED, Status.SENDING))


def diagnosis(detail: MessageDetail, ctx: DiagnosisContext) -> Diagnosis | None:
    """Why the message is not delivered and what to do; None when it is."""
    message, events, sender = detail.message, detail.events, detail.sender
    facts = MessageFacts(
        status=Status(message.status),
        direction=message.direction,
        now=ctx.now,
        error_code=message.error_code,
        error_message=message.error_message,
    )
    if not is_pending(message):  # the answer needs neither the context nor the sender
        return diagnose(facts)
    return diagnose(
        replace(
            facts,
            timezone=ctx.timezone,
            due_at=message.due_at,
            last_detail=events[-1].detail if events else None,
            connector=ctx.connector.state,
            connector_since=ctx.connector.since,
            sender_kind=sender.kind if sender else None,
            sender_verification=Verification(sender.verification)
            if sender
            else Verification.VERIFIED,
            campaign=message.campaign_id is not None,
        )
    )
