"""The automation round: send the appointment texts that are due, once each, ever.

Run by the dispatcher every few seconds in a transaction of its own. It reads up to a
batch of due planned texts, oldest first (the partial index ``ix_appointment_texts_due``),
asks ``domain.automation.decide`` what to do with each, and records every outcome on the
text's row: ``queued`` with its message, ``skipped`` or ``canceled`` with the reason.

Why it holds across workers, restarts and crashes:

* A row's text is written inside a SAVEPOINT, and the row claimed by a conditional
  UPDATE (``state = 'planned'`` → ``'queued'`` with the message id) in the same
  transaction. A second worker's claim finds it no longer planned (rowcount 0) and rolls
  back its savepoint; on PostgreSQL the batch is also read ``FOR UPDATE SKIP LOCKED``, so
  workers take different rows instead of queueing on the same ones. On SQLite each round
  holds the one write lock.
* The message carries (appointment_id, rule_id), which the database keeps unique: a
  second text is refused (IntegrityError) and rolled back to its savepoint, which covers
  only that one text.
* A crash before the commit loses the claim and the message together: the row is still
  planned when the next round looks.

Sending goes through ``services.sending.send`` as an automated text on the clinic
channel, so the checklist, the send window in the patient's time and the frequency caps
apply, with the margin's start as the latest moment it may be held to.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from clinictext.domain import automation as rules_domain
from clinictext.domain.automation import Verb
from clinictext.domain.checklist import Channel, SendKind
from clinictext.services import sending
from clinictext.services.automation import CANCELED, PLANNED, QUEUED, SKIPPED, settle
from clinictext.services.errors import ServiceError
from clinictext.services.templates import text_for
from clinictext.store.models import (
    Appointment,
    AppointmentText,
    Message,
    Organization,
    Patient,
    Rule,
    Template,
)

log = logging.getLogger("clinictext.automation")

ROUND_LIMIT = 100


@dataclass
class RoundReport:
    """What one round did, by outcome."""

    sent: int = 0  # a message written (queued, or scheduled inside the send window)
    skipped: int = 0
    canceled: int = 0
    waiting: int = 0  # read as due, but the appointment moved: due later
    taken: int = 0  # another worker got there first
    seen: int = 0  # due rows read

    @property
    def written(self) -> int:
        return self.sent + self.skipped + self.canceled


def _due_ids(session: Session, now: datetime, limit: int) -> list[int]:
    query = (
        select(AppointmentText.id)
        .where(AppointmentText.state == PLANNED, AppointmentText.due_at <= now)
        .order_by(AppointmentText.due_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def run_round(session: Session, now: datetime, *, limit: int = ROUND_LIMIT) -> RoundReport:
    """Decide, and send or settle, up to ``limit`` due texts in the caller's transaction."""
    report = RoundReport()
    ids = _due_ids(session, now, limit)
    if not ids:
        return report
    rows = session.execute(
        select(AppointmentText.id, AppointmentText.due_at, Appointment, Rule)
        .join(Appointment, Appointment.id == AppointmentText.appointment_id)
        .join(Rule, Rule.id == AppointmentText.rule_id)
        .where(AppointmentText.id.in_(ids))
        .order_by(AppointmentText.due_at, AppointmentText.id)
    ).all()
    report.seen = len(rows)
    # Loaded once for the batch; held here so the session's identity map keeps them.
    patient_ids = sorted({appointment.patient_id for _, _, appointment, _ in rows})
    patients = {
        p.id: p for p in session.scalars(select(Patient).where(Patient.id.in_(patient_ids)))
    }
    orgs = {
        o.id: o
        for o in session.scalars(
            select(Organization).where(
                Organization.id.in_({appointment.organization_id for _, _, appointment, _ in rows})
            )
        )
    }
    templates: dict[int, Template | None] = {}
    for text_id, due, appointment, rule in rows:
        if rule.template_id not in templates:
            templates[rule.template_id] = session.get(Template, rule.template_id)
        _one(
            session,
            report,
            now,
            text_id,
            due,
            appointment,
            rule,
            orgs[appointment.organization_id],
            patients.get(appointment.patient_id),
            templates[rule.template_id],
        )
    session.flush()
    return report


def _one(
    session: Session,
    report: RoundReport,
    now: datetime,
    text_id: int,
    due: datetime,
    appointment: Appointment,
    rule: Rule,
    org: Organization,
    patient: Patient | None,
    template: Template | None,
) -> None:
    margin = rule.do_not_send_within_minutes
    decision = rules_domain.decide(
        now=now,
        starts_at=appointment.starts_at,
        appointment_status=appointment.status,
        confirmed=appointment.status == "confirmed" or appointment.confirmed_at is not None,
        purpose=rule.purpose,
        minutes_before=rule.minutes_before,
        margin=margin,
        planned_at=appointment.created_at if appointment.created_at >= rule.created_at else None,
        rule_active=rule.enabled and rule.deleted_at is None,
    )
    if decision.verb is Verb.WAIT:
        new_due = rules_domain.due_at(appointment.starts_at, rule.minutes_before)
        session.execute(
            update(AppointmentText)
            .where(AppointmentText.id == text_id, AppointmentText.state == PLANNED)
            .values(due_at=new_due, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        report.waiting += 1
        return
    if decision.verb is Verb.CANCEL:
        _count(report, settle(session, text_id, CANCELED, now, reason=decision.reason), "canceled")
        return
    if decision.verb is Verb.SKIP:
        _count(report, settle(session, text_id, SKIPPED, now, reason=decision.reason), "skipped")
        return
    if template is None or template.deleted_at is not None or patient is None:
        reason = (
            "The rule's template was deleted: give the rule another template."
            if patient is not None
            else "The patient no longer exists."
        )
        _count(report, settle(session, text_id, SKIPPED, now, reason=reason), "skipped")
        return
    outcome, detail = _send(session, now, text_id, appointment, rule, org, patient, template)
    if outcome == "sent":
        report.sent += 1
    elif outcome == "taken":
        report.taken += 1
    else:
        _count(report, settle(session, text_id, SKIPPED, now, reason=detail), "skipped")


def _count(report: RoundReport, changed: bool, field: str) -> None:
    if changed:
        setattr(report, field, getattr(report, field) + 1)
    else:
        report.taken += 1


def _send(
    session: Session,
    now: datetime,
    text_id: int,
    appointment: Appointment,
    rule: Rule,
    org: Organization,
    patient: Patient,
    template: Template,
) -> tuple[str, str]:
    """Write the text and claim its row, inside a SAVEPOINT: ("sent", message id),
    ("skipped", reason), or ("taken", "") when another worker's text or claim came first.

    The claim is the conditional UPDATE that moves the row from planned to queued with its
    message id; if it finds the row no longer planned, or the database refuses a second
    text for the pair, only this savepoint is rolled back.
    """
    margin = rule.do_not_send_within_minutes
    last = rules_domain.deadline(appointment.starts_at, margin)
    savepoint = session.begin_nested()
    try:
        body = text_for(template, org, patient, appointment)
        message = sending.send(
            session,
            appointment.organization_id,
            patient.id,
            Channel.CLINIC,
            body,
            actor=sending.SYSTEM_ACTOR,
            send_kind=SendKind.AUTOMATED,
            now=now,
            appointment_id=appointment.id,
            rule_id=rule.id,
            not_after=last,
        )
        if not settle(session, text_id, QUEUED, now, message_id=message.id):
            savepoint.rollback()
            return "taken", ""
        savepoint.commit()
        return "sent", str(message.id)
    except sending.HeldTooLate as err:
        savepoint.rollback()
        reason = rules_domain.held_too_late_reason(
            err.hold, err.slot, appointment.starts_at, margin
        )
        return "skipped", reason
    except ServiceError as err:  # CannotText (every failing check) among them
        savepoint.rollback()
        return "skipped", err.message
    except IntegrityError:
        savepoint.rollback()
        _adopt(session, now, text_id, appointment.id, rule.id)
        return "taken", ""
    except SQLAlchemyError:
        savepoint.rollback()
        raise  # the database itself failed: the whole round rolls back and runs again
    except Exception:
        # One bad text must not stall every text behind it: it is skipped, and logged.
        savepoint.rollback()
        log.exception(
            "appointment %s rule %s: the text could not be written", appointment.id, rule.id
        )
        return "skipped", (
            "The text could not be written because of an unexpected error (see the server "
            "log); it will not be retried. Check the rule's template."
        )


def _adopt(
    session: Session, now: datetime, text_id: int, appointment_id: int, rule_id: int
) -> None:
    """The pair has a text already: a row still planned is pointed at it, not sent again."""
    existing = session.scalar(
        select(Message.id).where(
            Message.appointment_id == appointment_id, Message.rule_id == rule_id
        )
    )
    if existing is not None:
        settle(session, text_id, QUEUED, now, message_id=existing)
