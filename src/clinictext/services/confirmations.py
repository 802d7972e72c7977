"""Confirming appointments: by staff or a program, and by the patient's reply (SPEC §4).

A patient's text reaches ``after_inbound`` once it is stored and the keywords have had
their turn (a STOP, START or HELP is never read as a confirmation). "C" confirms the
patient's next upcoming appointment not yet confirmed; a confirm code confirms this
patient's upcoming appointment with that code (another patient's code matches nothing).
The answer is clinictext's own reply (kind ``auto_reply``) from the number the patient
texted: a thank-you with the date and time in the appointment's time zone, or "we could
not match that" with the clinic's phone. Like HELP, nothing is sent to a number that has
opted out; the confirmation itself is still recorded, since the patient said they come.

The patient's text stays in the conversation, unread, like any other: staff see that the
patient answered. A webhook delivered twice is stored once (``inbound.receive``), so it
confirms and answers once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinictext.domain.appointments import (
    AppointmentStatus,
    ChangeRefused,
    check_status_change,
    when_words,
)
from clinictext.domain.confirm_reply import (
    ReplyKind,
    already_confirmed,
    no_match,
    read,
    thank_you,
)
from clinictext.domain.consent import ConsentState
from clinictext.domain.keywords import classify
from clinictext.domain.phones import display
from clinictext.services import appointments, audit, automation
from clinictext.services import consent as consent_service
from clinictext.services.errors import Conflict
from clinictext.services.sending import send_reply
from clinictext.store.db import for_update
from clinictext.store.models import (
    Appointment,
    Location,
    Message,
    Organization,
    Patient,
    SenderNumber,
)

PATIENT_ACTOR = "patient"
VIA_REPLY = "reply"
REPLY_KIND = "auto_reply"


def confirm(
    session: Session,
    appointment: Appointment,
    *,
    via: str,
    actor: str,
    now: datetime,
    message_id: int | None = None,
) -> Appointment:
    """Mark ``appointment`` confirmed (audited); an appointment confirmed before is left as
    it is. ``Conflict`` when its state does not allow it (canceled, already started)."""
    current = AppointmentStatus(appointment.status)
    if current is AppointmentStatus.CONFIRMED:
        return appointment
    try:
        check_status_change(current, AppointmentStatus.CONFIRMED, appointment.starts_at, now)
    except ChangeRefused as err:
        raise Conflict(str(err), code="status_change_refused", field="status") from None
    appointment.status = AppointmentStatus.CONFIRMED.value
    appointment.confirmed_at = now
    appointment.confirmed_via = via
    appointment.updated_at = now
    automation.cancel_confirmation_requests(session, appointment, now)
    data: dict[str, object] = {"via": via, "patient_id": appointment.patient_id}
    if message_id is not None:
        data["message_id"] = message_id
    audit.record(
        session,
        appointment.organization_id,
        actor,
        "appointment.confirmed",
        "appointment",
        appointment.id,
        data,
        at=now,
    )
    session.flush()
    return appointment


def after_inbound(session: Session, message: Message, now: datetime) -> list[Message]:
    """Confirm the appointment a stored inbound text names, if it names one; the answer
    queued (none when the text is not a confirmation, or the number opted out)."""
    if message.direction != "inbound" or classify(message.body) is not None:
        return []
    reply = read(message.body)
    if not reply.confirms:
        return []
    patient = session.get(Patient, message.patient_id)
    org = session.get(Organization, message.organization_id)
    sender = (
        session.get(SenderNumber, message.sender_number_id) if message.sender_number_id else None
    )
    assert patient is not None and org is not None
    upcoming = _upcoming(session, patient, now)
    if reply.kind is ReplyKind.CODE:
        upcoming = [a for a in upcoming if a.confirm_code == reply.code]
    target = next((a for a in upcoming if a.status == AppointmentStatus.SCHEDULED.value), None)
    if target is not None:
        confirm(session, target, via=VIA_REPLY, actor=PATIENT_ACTOR, now=now, message_id=message.id)
        body = _about(session, org, target, thank_you)
    elif upcoming:
        body = _about(session, org, upcoming[0], already_confirmed)
    else:
        audit.record(
            session,
            org.id,
            PATIENT_ACTOR,
            "appointment.confirmation_unmatched",
            "patient",
            patient.id,
            {"message_id": message.id, "by": reply.kind.value},
            at=now,
        )
        body = no_match(org.name, display(org.clinic_phone) if org.clinic_phone else None)
    if sender is None or patient.phone is None:
        return []
    if consent_service.current(session, org.id, patient.phone).state is ConsentState.OPTED_OUT:
        return []
    answer = send_reply(session, patient, sender, REPLY_KIND, body, now)
    about = target or (upcoming[0] if upcoming else None)
    answer.appointment_id = about.id if about is not None else None
    return [answer]


def _upcoming(session: Session, patient: Patient, now: datetime) -> list[Appointment]:
    """The patient's appointments still ahead and not ended, soonest first, locked."""
    query = (
        select(Appointment)
        .where(
            Appointment.organization_id == patient.organization_id,
            Appointment.patient_id == patient.id,
            Appointment.status.in_(
                [AppointmentStatus.SCHEDULED.value, AppointmentStatus.CONFIRMED.value]
            ),
            Appointment.starts_at > now,
        )
        .order_by(Appointment.starts_at, Appointment.id)
        .limit(50)
    )
    return list(session.scalars(for_update(session, query)))


def _about(
    session: Session,
    org: Organization,
    appointment: Appointment,
    words: Callable[[str, str, str | None], str],
) -> str:
    """``words`` about the appointment: the office, its date and time in its own zone."""
    zone = appointments.zone_for(session, org, appointment.location_id)
    location = session.get(Location, appointment.location_id) if appointment.location_id else None
    when = when_words(appointment.starts_at, zone)
    return words(org.name, when, location.name if location else None)
