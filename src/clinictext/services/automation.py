"""Appointment texts: plan each rule's text for an appointment, and keep the plan true.

One row per (appointment, rule) in ``appointment_texts`` (UNIQUE) holds the plan: when the
text is due and what became of it. Planning only inserts what is missing (``ON CONFLICT
DO NOTHING``), so two requests planning the same appointment at once cannot make two rows.
The automation round (``services.automation_round``) sends the due ones.

Every change of state is a conditional UPDATE (``... WHERE state = 'planned'``): the round
may claim a row at the same moment, and whoever changes it first wins while the other sees
rowcount 0 and re-reads. A text already written but not yet handed to the provider is
rewritten in place (body and due time) by a conditional UPDATE on the message's status, so
a move never produces a second text: the database allows one per appointment and rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from clinictext.domain import automation as rules_domain
from clinictext.domain.checklist import SendKind
from clinictext.domain.segments import count_segments
from clinictext.domain.statuses import DUE
from clinictext.services import audit, outbox
from clinictext.services.errors import CannotText, Invalid
from clinictext.services.scheduling import slot_for
from clinictext.services.sending import SYSTEM_ACTOR
from clinictext.services.templates import text_for
from clinictext.store.db import for_update
from clinictext.store.models import (
    Appointment,
    AppointmentText,
    Message,
    Organization,
    Patient,
    Rule,
    Template,
)

PLANNED, QUEUED, SKIPPED, CANCELED = "planned", "queued", "skipped", "canceled"
_DUE_STATUSES = [s.value for s in DUE]


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


def settle(
    session: Session,
    text_id: int,
    state: str,
    now: datetime,
    *,
    reason: str | None = None,
    message_id: int | None = None,
    from_state: str = PLANNED,
) -> bool:
    """Move one planned text to ``state``; False when someone else moved it first."""
    values: dict[str, Any] = {"state": state, "reason": reason, "updated_at": now}
    if message_id is not None:
        values["message_id"] = message_id
    result = session.execute(
        update(AppointmentText)
        .where(AppointmentText.id == text_id, AppointmentText.state == from_state)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def active_rules(session: Session, org_id: int) -> list[Rule]:
    """The organization's rules that send: enabled and not deleted."""
    return list(
        session.scalars(
            select(Rule)
            .where(
                Rule.organization_id == org_id,
                Rule.enabled.is_(True),
                Rule.deleted_at.is_(None),
            )
            .order_by(Rule.id)
        )
    )


def _insert_missing(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert planned texts, leaving alone any (appointment, rule) that has one already."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(AppointmentText).on_conflict_do_nothing(
            index_elements=["appointment_id", "rule_id"]
        ),
        rows,
    )


def _new_row(
    org_id: int, appointment_id: int, rule: Rule, due: datetime, now: datetime
) -> dict[str, Any]:
    return {
        "organization_id": org_id,
        "appointment_id": appointment_id,
        "rule_id": rule.id,
        "due_at": due,
        "state": PLANNED,
        "message_id": None,
        "reason": None,
        "updated_at": now,
    }


# --- one appointment -------------------------------------------------------------------------


def replan(session: Session, appointment: Appointment, now: datetime) -> None:
    """Plan (or re-plan, after a move) every enabled rule's text for ``appointment``.

    Missing texts are planned; planned ones move with the appointment; one skipped or
    canceled without a text written is planned again when the appointment moved (or is
    back on); one written but not yet handed to the provider is rewritten for the new
    time. An appointment that will not happen is left to ``cancel_texts``.
    """
    if appointment.status not in rules_domain.UPCOMING:
        return
    session.flush()
    org_id = appointment.organization_id
    rules = active_rules(session, org_id)
    if not rules:
        return
    existing = {
        row.rule_id: row
        for row in session.scalars(
            select(AppointmentText)
            .where(
                AppointmentText.organization_id == org_id,
                AppointmentText.appointment_id == appointment.id,
            )
            # Rows change by conditional UPDATEs the session does not track: read them afresh.
            .execution_options(populate_existing=True)
        )
    }
    missing = []
    for rule in rules:
        due = rules_domain.due_at(appointment.starts_at, rule.minutes_before)
        row = existing.get(rule.id)
        if row is None:
            missing.append(_new_row(org_id, appointment.id, rule, due, now))
        else:
            _replan_one(session, appointment, rule, row, due, now)
    _insert_missing(session, missing)
    session.flush()


def _replan_one(
    session: Session,
    appointment: Appointment,
    rule: Rule,
    row: AppointmentText,
    due: datetime,
    now: datetime,
) -> None:
    if row.state == PLANNED:
        if row.due_at == due:
            return
        moved = session.execute(
            update(AppointmentText)
            .where(AppointmentText.id == row.id, AppointmentText.state == PLANNED)
            .values(due_at=due, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if _rowcount(moved) == 1:
            return
        # The round claimed it meanwhile: what it wrote is rewritten below.
        session.refresh(row)
    if row.state in (SKIPPED, CANCELED) and row.message_id is None:
        if row.due_at != due or row.state == CANCELED:
            session.execute(
                update(AppointmentText)
                .where(AppointmentText.id == row.id, AppointmentText.state == row.state)
                .values(state=PLANNED, due_at=due, reason=None, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        return
    if row.state == QUEUED and row.message_id is not None:
        _rewrite(session, appointment, rule, row, due, now)


def _rewrite(
    session: Session,
    appointment: Appointment,
    rule: Rule,
    row: AppointmentText,
    due: datetime,
    now: datetime,
) -> None:
    """Rewrite a written text not yet handed to the provider for the appointment's new
    time: its body and when it goes, placed as a new text would be (the send window, and
    the frequency cap counting the patient's other automated texts); if that lands inside
    the margin, the text is canceled and skipped."""
    message = session.get(Message, row.message_id)
    if message is None or message.status not in _DUE_STATUSES:
        return  # handed over (or finished): it went out with what it said
    org = session.get(Organization, appointment.organization_id)
    patient = session.get(Patient, appointment.patient_id)
    template = session.get(Template, rule.template_id)
    if org is None or patient is None or template is None:
        return
    body = text_for(template, org, patient, appointment)
    when = max(due, now)
    last = rules_domain.deadline(appointment.starts_at, rule.do_not_send_within_minutes)
    skip: str | None = None
    send_at = when
    if when >= last:
        skip = rules_domain.late_reason(
            appointment.starts_at, rule.do_not_send_within_minutes, when
        )
    else:
        try:
            slot = slot_for(session, org, patient, SendKind.AUTOMATED, when, moving=message.id)
        except (CannotText, Invalid) as err:  # no send window, or an unreadable one
            skip = str(err)
        else:
            send_at = slot.at
            if send_at >= last:
                skip = rules_domain.held_too_late_reason(
                    slot.reason, send_at, appointment.starts_at, rule.do_not_send_within_minutes
                )
    if skip is not None:
        if _cancel_message(session, message.id, now, skip):
            session.execute(
                update(AppointmentText)
                .where(AppointmentText.id == row.id)
                .values(state=SKIPPED, due_at=due, reason=skip, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        return
    info = count_segments(body)
    rewritten = session.execute(
        update(Message)
        .where(Message.id == message.id, Message.status.in_(_DUE_STATUSES))
        .values(
            body=body,
            encoding=info.encoding,
            segments=info.segments,
            cost_micros=info.segments * org.segment_price_micros,
            due_at=send_at,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if _rowcount(rewritten) != 1:
        return  # a worker claimed it in the meantime: it goes out as written
    session.execute(
        update(AppointmentText)
        .where(AppointmentText.id == row.id)
        .values(due_at=due, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        appointment.organization_id,
        SYSTEM_ACTOR,
        "message.rewritten",
        "message",
        message.id,
        {"appointment_id": appointment.id, "rule_id": rule.id, "due_at": send_at.isoformat()},
        at=now,
    )


def _cancel_message(session: Session, message_id: int, now: datetime, why: str) -> bool:
    """Cancel a text the provider has not been given; False when it was handed already.

    Locked first (PostgreSQL), as an opt-out's cancel does: a worker's hand-off in
    progress finishes before this reads the row, and then it is no longer cancelable.
    """
    message = session.scalar(
        for_update(
            session,
            select(Message).where(Message.id == message_id, outbox.not_handed()),
        )
    )
    if message is None:
        return False
    outbox.cancel(session, message, now, why)
    return True


def cancel_texts(session: Session, appointment: Appointment, now: datetime, reason: str) -> None:
    """Cancel every text of ``appointment`` not yet handed to the provider."""
    session.flush()
    rows = list(
        session.execute(
            select(AppointmentText.id, AppointmentText.state, AppointmentText.message_id).where(
                AppointmentText.organization_id == appointment.organization_id,
                AppointmentText.appointment_id == appointment.id,
                AppointmentText.state.in_([PLANNED, QUEUED]),
            )
        )
    )
    _cancel_rows(session, rows, now, reason)


CONFIRMED_BEFORE = "Not needed: the patient confirmed the appointment before it went out."


def cancel_confirmation_requests(session: Session, appointment: Appointment, now: datetime) -> int:
    """Once ``appointment`` is confirmed, its confirmation texts not yet handed to the
    provider (planned, or written and held for the send window) must not ask again."""
    session.flush()
    rows = list(
        session.execute(
            select(AppointmentText.id, AppointmentText.state, AppointmentText.message_id)
            .join(Rule, Rule.id == AppointmentText.rule_id)
            .where(
                AppointmentText.organization_id == appointment.organization_id,
                AppointmentText.appointment_id == appointment.id,
                AppointmentText.state.in_([PLANNED, QUEUED]),
                Rule.purpose == "confirmation",
            )
        )
    )
    return _cancel_rows(session, rows, now, CONFIRMED_BEFORE)


def _cancel_rows(session: Session, rows: Iterable[Any], now: datetime, reason: str) -> int:
    """Cancel planned texts, and written ones the provider has not been given."""
    count = 0
    for text_id, state, message_id in rows:
        if state == PLANNED:
            count += settle(session, text_id, CANCELED, now, reason=reason)
        elif message_id is not None and _cancel_message(session, message_id, now, reason):
            count += settle(session, text_id, CANCELED, now, reason=reason, from_state=QUEUED)
    session.flush()
    return count


# --- one rule, every upcoming appointment ----------------------------------------------------


def plan_rule(session: Session, rule: Rule, now: datetime) -> int:
    """Plan ``rule`` for every upcoming appointment of its organization; how many are planned.

    Texts already planned move to the rule's offset; texts skipped or canceled without a
    text written (the rule was off) are planned again. Texts written stay as they are.
    """
    session.flush()
    appointments = session.execute(
        select(Appointment.id, Appointment.starts_at).where(
            Appointment.organization_id == rule.organization_id,
            Appointment.status.in_(rules_domain.UPCOMING),
            Appointment.starts_at > now,
        )
    ).all()
    existing = {
        r.appointment_id: r
        for r in session.execute(
            select(
                AppointmentText.id,
                AppointmentText.appointment_id,
                AppointmentText.state,
                AppointmentText.due_at,
                AppointmentText.message_id,
            ).where(AppointmentText.rule_id == rule.id)
        )
    }
    missing: list[dict[str, Any]] = []
    moves: list[dict[str, Any]] = []
    for appointment_id, starts_at in appointments:
        due = rules_domain.due_at(starts_at, rule.minutes_before)
        row = existing.get(appointment_id)
        if row is None:
            missing.append(_new_row(rule.organization_id, appointment_id, rule, due, now))
        elif row.message_id is None and (
            row.state in (SKIPPED, CANCELED) or (row.state == PLANNED and row.due_at != due)
        ):
            moves.append({"text_id": row.id, "from_state": row.state, "due": due})
    _insert_missing(session, missing)
    if moves:
        # One statement, many parameter sets; each only touches a row still in the state read.
        table = cast(Table, AppointmentText.__table__)
        session.execute(
            update(table)
            .where(
                table.c.id == bindparam("text_id"),
                table.c.state == bindparam("from_state"),
            )
            .values(state=PLANNED, due_at=bindparam("due"), reason=None, updated_at=now),
            moves,
        )
    session.flush()
    return len(missing) + len(moves)


def cancel_rule(session: Session, rule: Rule, now: datetime, reason: str) -> int:
    """Cancel ``rule``'s texts not yet handed to the provider; how many were canceled."""
    session.flush()
    planned = session.execute(
        update(AppointmentText)
        .where(AppointmentText.rule_id == rule.id, AppointmentText.state == PLANNED)
        .values(state=CANCELED, reason=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    written = session.execute(
        select(AppointmentText.id, AppointmentText.state, AppointmentText.message_id).where(
            AppointmentText.rule_id == rule.id, AppointmentText.state == QUEUED
        )
    ).all()
    return _rowcount(planned) + _cancel_rows(session, written, now, reason)


# --- reading -------------------------------------------------------------------------------


def texts_of(
    session: Session, org_id: int, appointment_ids: Sequence[int]
) -> dict[int, list[AppointmentText]]:
    """Each appointment's planned texts (state, due time, reason, message), by rule id."""
    found: dict[int, list[AppointmentText]] = defaultdict(list)
    if not appointment_ids:
        return found
    for row in session.scalars(
        select(AppointmentText)
        .where(
            AppointmentText.organization_id == org_id,
            AppointmentText.appointment_id.in_(list(appointment_ids)),
        )
        .order_by(AppointmentText.appointment_id, AppointmentText.rule_id)
    ):
        found[row.appointment_id].append(row)
    return found
