"""Confirming an appointment from the link of ``[ConfirmURL]``: the patient opens it, sees
which appointment it is, and confirms with one button. No sign-in: the code in the link is
what proves it is theirs, as the code in a reply does. The page shows the office, date and
time only, never the patient's name, so a guessed link reveals nothing about who it is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinictext.domain import templates as fields
from clinictext.domain.appointments import AppointmentStatus
from clinictext.domain.phones import display
from clinictext.services import confirmations
from clinictext.store.models import Appointment, Location, Organization

LINK_VIA = "link"
LINK_ACTOR = "patient:link"
UPCOMING = (AppointmentStatus.SCHEDULED.value, AppointmentStatus.CONFIRMED.value)
MAX_CODE = 8


@dataclass(frozen=True)
class LinkedAppointment:
    """What the confirmation page shows: where and when, and whether it is confirmed."""

    appointment: Appointment
    office: str
    office_phone: str | None
    date: str
    time: str

    @property
    def confirmed(self) -> bool:
        return self.appointment.status == AppointmentStatus.CONFIRMED.value


@dataclass(frozen=True)
class NoAppointment:
    """The link names no upcoming appointment; the clinic's phone, when the clinic exists."""

    office_phone: str | None


def find(
    session: Session, org_id: int, code: str, now: datetime
) -> LinkedAppointment | NoAppointment:
    """The upcoming appointment ``code`` names in organization ``org_id``."""
    org = session.get(Organization, org_id)
    if org is None:
        return NoAppointment(None)
    phone = display(org.clinic_phone) if org.clinic_phone else None
    normalized = code.strip().upper()
    if not normalized.isalnum() or len(normalized) > MAX_CODE:
        return NoAppointment(phone)
    appointment = session.scalar(
        select(Appointment).where(
            Appointment.organization_id == org_id,
            Appointment.confirm_code == normalized,
            Appointment.status.in_(UPCOMING),
            Appointment.starts_at > now,
        )
    )
    if appointment is None:
        return NoAppointment(phone)
    location = session.get(Location, appointment.location_id) if appointment.location_id else None
    zone = (location.timezone if location else None) or org.timezone
    local = appointment.starts_at.astimezone(ZoneInfo(zone))
    office_phone = (location.phone if location else None) or org.clinic_phone
    return LinkedAppointment(
        appointment,
        (location.name if location else None) or org.name,
        display(office_phone) if office_phone else None,
        fields.appt_date(local),
        fields.appt_time(local),
    )


def confirm(
    session: Session, org_id: int, code: str, now: datetime
) -> LinkedAppointment | NoAppointment:
    """Confirm the appointment the link names (once; again is harmless)."""
    found = find(session, org_id, code, now)
    if isinstance(found, LinkedAppointment) and not found.confirmed:
        confirmations.confirm(session, found.appointment, via=LINK_VIA, actor=LINK_ACTOR, now=now)
    return found
