"""What happens after a patient's text is stored: keywords, revocation review, lead rule.

In order: the conversation is marked unread; a keyword (STOP/START/HELP, whole message)
changes consent and is confirmed exactly once; otherwise a plain-words request to stop is
flagged for staff review; and a text to the lead number from a patient whose lead is
closed gets the clinic's auto-reply, at most once per 24 hours, without reopening it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinictext.domain.confirm_reply import read as read_confirmation
from clinictext.domain.consent import (
    ConsentAction,
    ConsentLevel,
    ConsentState,
    OptInSource,
    OptOutSource,
)
from clinictext.domain.keywords import Keyword, classify
from clinictext.domain.leads import LeadStage, is_active
from clinictext.domain.replies import (
    ReplyContext,
    lead_reply_due,
    opt_in_reply,
    opt_in_template,
    render,
)
from clinictext.domain.revocation import detect_revocation
from clinictext.services import audit
from clinictext.services import consent as consent_service
from clinictext.services.leads import get_lead
from clinictext.services.sending import send_reply
from clinictext.store.models import ConsentEventRow, Message, Organization, Patient, SenderNumber

PATIENT_ACTOR = "patient"
REVOCATION_REVIEW = "revocation_review"


def _template(org: Organization, kind: str) -> str | None:
    return getattr(org, f"reply_{kind}")


def _reply(
    session: Session,
    org: Organization,
    patient: Patient,
    sender: SenderNumber,
    kind: str,
    message_kind: str,
    now: datetime,
    template: str | None = None,
) -> Message:
    """Queue the reply ``kind``: ``template``, else the organization's wording or the default."""
    wording = template or _template(org, kind)
    body = render(kind, wording, ReplyContext(org.name, org.clinic_phone))
    return send_reply(session, patient, sender, message_kind, body, now)


def _level_before_opt_out(session: Session, org_id: int, phone: str) -> ConsentLevel:
    """START restores the level the patient had; informational if they never had one."""
    last = session.scalar(
        select(ConsentEventRow.level)
        .where(
            ConsentEventRow.organization_id == org_id,
            ConsentEventRow.phone == phone,
            ConsentEventRow.action == ConsentAction.OPT_IN.value,
            ConsentEventRow.level.is_not(None),
        )
        .order_by(ConsentEventRow.id.desc())
        .limit(1)
    )
    return ConsentLevel(last) if last else ConsentLevel.INFORMATIONAL


def after_inbound(session: Session, message: Message, now: datetime) -> list[Message]:
    """React to a stored inbound text; returns the replies queued."""
    patient = session.get(Patient, message.patient_id)
    org = session.get(Organization, message.organization_id)
    sender = session.get(SenderNumber, message.sender_number_id)
    assert patient is not None and org is not None and sender is not None
    patient.unread_count += 1
    patient.last_inbound_at = now
    replies: list[Message] = []
    keyword = classify(message.body)
    if patient.phone is None:
        return replies
    current = consent_service.current(session, org.id, patient.phone)
    # A keyword that changes the state is recorded and confirmed; a repeat does nothing.
    keyword_changes = {
        Keyword.OPT_OUT: (
            ConsentAction.OPT_OUT,
            ConsentState.OPTED_OUT,
            OptOutSource.KEYWORD.value,
        ),
        Keyword.OPT_IN: (ConsentAction.OPT_IN, ConsentState.OPTED_IN, OptInSource.KEYWORD.value),
    }
    if keyword in keyword_changes:
        action, target, source = keyword_changes[keyword]
        if current.state is not target:
            level = (
                _level_before_opt_out(session, org.id, patient.phone)
                if action is ConsentAction.OPT_IN
                else None
            )
            consent_service.record(
                session,
                org.id,
                patient.id,
                action=action,
                source=source,
                level=level,
                actor=PATIENT_ACTOR,
                by_patient=True,
                now=now,
                evidence=f"The patient texted {message.body.strip()!r} (message {message.id}).",
            )
            template = None
            if action is ConsentAction.OPT_IN:
                # "Subscribed again" only to a number that had opted out; a welcome otherwise.
                welcome = opt_in_reply(current.state)
                assert welcome is not None  # not opted in before, or nothing was recorded
                template = opt_in_template(welcome, org.reply_opt_in)
            replies.append(
                _reply(session, org, patient, sender, action.value, "keyword_reply", now, template)
            )
        return replies
    if keyword is Keyword.HELP:
        # An opted-out number gets nothing but its one opt-out confirmation.
        if current.state is not ConsentState.OPTED_OUT:
            replies.append(_reply(session, org, patient, sender, "help", "keyword_reply", now))
        return replies
    signal = detect_revocation(message.body)
    if signal.likely and current.state is not ConsentState.OPTED_OUT:
        patient.review_flag = REVOCATION_REVIEW
        patient.review_message_id = message.id
        patient.review_phrase = (signal.phrase or "")[:200]
        audit.record(
            session,
            org.id,
            PATIENT_ACTOR,
            "consent.revocation_flagged",
            "patient",
            patient.id,
            {"message_id": message.id},
            at=now,
        )
    # A confirmation ("C", a confirm code) is answered by the appointment's own reply.
    if sender.purpose == "lead" and not read_confirmation(message.body).confirms:
        lead = get_lead(session, org.id, patient.id)
        stage = LeadStage(lead.stage) if lead else None
        if not is_active(stage) and current.state is not ConsentState.OPTED_OUT:
            last = session.scalar(
                select(Message.created_at)
                .where(
                    Message.organization_id == org.id,
                    Message.patient_id == patient.id,
                    Message.kind == "auto_reply",
                    # An appointment's thank-you is not the lead rule's answer.
                    Message.appointment_id.is_(None),
                )
                .order_by(Message.id.desc())
                .limit(1)
            )
            if lead_reply_due(last, now):
                replies.append(
                    _reply(session, org, patient, sender, "lead_closed", "auto_reply", now)
                )
            else:
                audit.record(
                    session,
                    org.id,
                    "clinictext",
                    "auto_reply.suppressed",
                    "patient",
                    patient.id,
                    {
                        "message_id": message.id,
                        "last_auto_reply_at": last.isoformat() if last else None,
                    },
                    at=now,
                )
    return replies
