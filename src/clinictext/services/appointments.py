"""Appointments: book, move and change their status (reading them: ``appointment_view``).

Every change that affects texts hands over to the automation: a booking or a move re-plans
(``automation.replan``), a cancellation, completion or no-show cancels what is not yet sent
(``automation.cancel_texts``). The rules of what may change are in ``domain.appointments``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import EllipsisType
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clinictext.domain.appointments import (
    ENDED,
    UPCOMING,
    AppointmentStatus,
    ChangeRefused,
    StartRefused,
    check_move,
    check_start,
    check_status_change,
    new_confirm_code,
)
from clinictext.services import audit, automation, confirmations, lead_booking
from clinictext.services.appointment_view import cursor_of as cursor_of
from clinictext.services.appointment_view import described as described
from clinictext.services.appointment_view import described_many as described_many
from clinictext.services.appointment_view import list_appointments as list_appointments
from clinictext.services.appointment_view import status_of
from clinictext.services.clock import utcnow
from clinictext.services.errors import Conflict, Invalid, NotFound
from clinictext.services.orgs import get_org
from clinictext.services.patients import get_patient
from clinictext.store.db import for_update
from clinictext.store.models import Appointment, Location, Organization, Patient

MAX_PROVIDER = 200
# A new confirm code is drawn this often before a clash is taken for something else.
CODE_ATTEMPTS = 8

ENDED_REASONS = {
    AppointmentStatus.CANCELED: "The appointment was canceled.",
    AppointmentStatus.COMPLETED: "The appointment was marked completed.",
    AppointmentStatus.NO_SHOW: "The appointment was marked no_show.",
}


# --- reading input --------------------------------------------------------------------------


def read_instant(text: str, field: str) -> datetime:
    """An ISO time with its offset, in UTC; ``Invalid`` naming ``field`` otherwise."""
    try:
        value = datetime.fromisoformat(text.strip())
        utc = value.astimezone(UTC) if value.tzinfo is not None else None
    except (ValueError, OverflowError):
        raise Invalid(
            f"'{text[:40]}' is not a time: write it as ISO 8601 with its offset, e.g. "
            "2026-12-01T15:30:00-05:00.",
            code="invalid_time",
            field=field,
        ) from None
    if utc is None:
        raise Invalid(
            f"'{field}' has no time zone: add its offset, e.g. 2026-12-01T15:30:00-05:00 "
            "(or Z for UTC).",
            code="invalid_time",
            field=field,
        )
    return utc


def _start(starts_at: datetime | str, now: datetime, zone: ZoneInfo) -> datetime:
    value = read_instant(starts_at, "starts_at") if isinstance(starts_at, str) else starts_at
    try:
        return check_start(value, now, zone)
    except StartRefused as err:
        raise Invalid(str(err), code="invalid_start", field="starts_at") from None


def _provider(name: str | None) -> str | None:
    if name is None or not name.strip():
        return None
    if len(name.strip()) > MAX_PROVIDER:
        raise Invalid(
            f"The provider's name is longer than {MAX_PROVIDER} characters: shorten it.",
            code="invalid_provider",
            field="provider",
        )
    return name.strip()


# --- loading --------------------------------------------------------------------------------


def get_location(session: Session, org_id: int, location_id: int) -> Location:
    location = session.get(Location, location_id)
    if location is None or location.organization_id != org_id:
        raise NotFound(
            f"There is no location {location_id}.", code="location_not_found", field="location_id"
        )
    return location


def zone_for(session: Session, org: Organization, location_id: int | None) -> ZoneInfo:
    """The time zone an appointment is told in: its location's, else the organization's."""
    location = session.get(Location, location_id) if location_id is not None else None
    return ZoneInfo(location.timezone if location and location.timezone else org.timezone)


def get(session: Session, org_id: int, appointment_id: int) -> Appointment:
    appointment = session.get(Appointment, appointment_id)
    if appointment is None or appointment.organization_id != org_id:
        raise NotFound(f"There is no appointment {appointment_id}.", code="appointment_not_found")
    return appointment


def _get_for_update(session: Session, org_id: int, appointment_id: int) -> Appointment:
    """The appointment, locked until the transaction ends (a confirming reply may race)."""
    appointment = session.scalar(
        for_update(session, select(Appointment).where(Appointment.id == appointment_id))
    )
    if appointment is None or appointment.organization_id != org_id:
        raise NotFound(f"There is no appointment {appointment_id}.", code="appointment_not_found")
    return appointment


def by_external_id(session: Session, org_id: int, external_id: str) -> Appointment | None:
    return session.scalar(
        select(Appointment).where(
            Appointment.organization_id == org_id, Appointment.external_id == external_id
        )
    )


def _refuse_taken_external_id(session: Session, org_id: int, external_id: str | None) -> None:
    if external_id is None:
        return
    other = by_external_id(session, org_id, external_id)
    if other is not None:
        raise Conflict(
            f"Appointment {other.id} already has external id '{external_id}': change that "
            f"appointment instead (PATCH /api/v1/appointments/{other.id}, or import it again).",
            code="external_id_taken",
            field="external_id",
            appointment_id=other.id,
        )


# --- booking --------------------------------------------------------------------------------


def create(
    session: Session,
    org_id: int,
    *,
    patient_id: int,
    starts_at: datetime | str,
    provider_name: str | None = None,
    location_id: int | None = None,
    external_id: str | None = None,
    actor: str,
    now: datetime | None = None,
) -> Appointment:
    """Book an appointment (``scheduled``, with a fresh confirm code) and plan its texts.

    ``starts_at`` is an aware datetime or ISO text with an offset. Booking also closes the
    patient's active lead as won when the organization asks for it (``lead_booking``).
    """
    now = now or utcnow()
    org = get_org(session, org_id)
    patient = _patient(session, org_id, patient_id)
    if location_id is not None:
        get_location(session, org_id, location_id)
    start = _start(starts_at, now, zone_for(session, org, location_id))
    external_id = external_id.strip() if external_id and external_id.strip() else None
    _refuse_taken_external_id(session, org_id, external_id)
    appointment = Appointment(
        organization_id=org_id,
        patient_id=patient.id,
        location_id=location_id,
        provider_name=_provider(provider_name),
        external_id=external_id,
        starts_at=start,
        status=AppointmentStatus.SCHEDULED.value,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    _insert_with_code(session, appointment)
    audit.record(
        session,
        org_id,
        actor,
        "appointment.created",
        "appointment",
        appointment.id,
        {"patient_id": patient.id, "starts_at": start.isoformat()},
        at=now,
    )
    automation.replan(session, appointment, now)
    lead_booking.close_lead_on_booking(session, org, appointment, actor=actor, now=now)
    return appointment


def _patient(session: Session, org_id: int, patient_id: int) -> Patient:
    try:
        return get_patient(session, org_id, patient_id)
    except NotFound as err:
        raise NotFound(err.message, code=err.code, field="patient_id") from None


def _insert_with_code(session: Session, appointment: Appointment) -> None:
    """Insert with a confirm code no other upcoming appointment of the organization has.

    The partial unique index decides: a clash rolls back the savepoint and a new code is
    drawn. Another clash (an external id saved at the same moment) is raised as it is.
    """
    for _ in range(CODE_ATTEMPTS):
        appointment.confirm_code = new_confirm_code()
        try:
            with session.begin_nested():
                session.add(appointment)
                session.flush()
            return
        except IntegrityError:
            org_id, code = appointment.organization_id, appointment.confirm_code
            _refuse_taken_external_id(session, org_id, appointment.external_id)
            if not _code_taken(session, org_id, code):
                raise
    raise Conflict("No free confirm code was found; try again.", code="confirm_code_unavailable")


def _code_taken(session: Session, org_id: int, code: str) -> bool:
    return (
        session.scalar(
            select(Appointment.id).where(
                Appointment.organization_id == org_id,
                Appointment.confirm_code == code,
                Appointment.status.in_([s.value for s in UPCOMING]),
            )
        )
        is not None
    )


# --- changing -------------------------------------------------------------------------------


def update(
    session: Session,
    org_id: int,
    appointment_id: int,
    *,
    actor: str,
    now: datetime | None = None,
    starts_at: datetime | str | None = None,
    status: str | None = None,
    provider_name: str | EllipsisType | None = ...,
    location_id: int | EllipsisType | None = ...,
    via: str | None = None,
) -> Appointment:
    """Move an appointment, change its status, provider or location; unchanged values are
    left alone (``...`` for provider and location). A move re-plans its texts and takes a
    confirmation back; canceled, completed or no_show cancels its unsent texts.

    ``via`` says how a confirmation came (``staff``, ``api``, ``import``); by default it is
    read from ``actor``. Refusals: ``Invalid`` (422) for a bad value, ``Conflict`` (409)
    for a change the appointment's state does not allow.
    """
    now = now or utcnow()
    appointment = _get_for_update(session, org_id, appointment_id)
    org = get_org(session, org_id)
    fields: list[str] = []
    if location_id is not ... and location_id != appointment.location_id:
        if location_id is not None:
            get_location(session, org_id, location_id)
        appointment.location_id = location_id
        fields.append("location_id")
    if provider_name is not ...:
        provider = _provider(provider_name)
        if provider != appointment.provider_name:
            appointment.provider_name = provider
            fields.append("provider")
    moved = starts_at is not None and _move(
        session, org, appointment, starts_at, actor=actor, now=now
    )
    if status is not None:
        _change_status(session, appointment, status_of(status), actor=actor, now=now, via=via)
    if fields:
        appointment.updated_at = now
        audit.record(
            session,
            org_id,
            actor,
            "appointment.updated",
            "appointment",
            appointment.id,
            {"fields": fields},
            at=now,
        )
    current = AppointmentStatus(appointment.status)
    if (moved or "location_id" in fields) and current not in ENDED:
        automation.replan(session, appointment, now)
    session.flush()
    return appointment


def _move(
    session: Session,
    org: Organization,
    appointment: Appointment,
    starts_at: datetime | str,
    *,
    actor: str,
    now: datetime,
) -> bool:
    """Move to ``starts_at``; False when it is the same time."""
    start = _start_of_move(session, org, appointment, starts_at, now)
    if start is None:
        return False
    try:
        check_move(AppointmentStatus(appointment.status), appointment.starts_at, now)
    except ChangeRefused as err:
        raise Conflict(str(err), code="appointment_not_movable", field="starts_at") from None
    previous = appointment.starts_at
    unconfirmed = appointment.status == AppointmentStatus.CONFIRMED.value
    appointment.starts_at = start
    if unconfirmed:
        _unconfirm(appointment)
    appointment.updated_at = now
    audit.record(
        session,
        org.id,
        actor,
        "appointment.moved",
        "appointment",
        appointment.id,
        {
            "from": previous.isoformat(),
            "to": start.isoformat(),
            "confirmation_cleared": unconfirmed,
        },
        at=now,
    )
    return True


def _start_of_move(
    session: Session,
    org: Organization,
    appointment: Appointment,
    starts_at: datetime | str,
    now: datetime,
) -> datetime | None:
    """The new start in UTC, or None when it is the current one (no move, no refusal)."""
    value = read_instant(starts_at, "starts_at") if isinstance(starts_at, str) else starts_at
    if value.tzinfo is not None and value == appointment.starts_at:
        return None
    return _start(value, now, zone_for(session, org, appointment.location_id))


def _unconfirm(appointment: Appointment) -> None:
    appointment.status = AppointmentStatus.SCHEDULED.value
    appointment.confirmed_at = None
    appointment.confirmed_via = None


def _change_status(
    session: Session,
    appointment: Appointment,
    new: AppointmentStatus,
    *,
    actor: str,
    now: datetime,
    via: str | None,
) -> None:
    current = AppointmentStatus(appointment.status)
    if new is current:
        return
    try:
        check_status_change(current, new, appointment.starts_at, now)
    except ChangeRefused as err:
        raise Conflict(str(err), code="status_change_refused", field="status") from None
    if new is AppointmentStatus.CONFIRMED:
        confirmations.confirm(session, appointment, via=via or via_of(actor), actor=actor, now=now)
        return
    if new is AppointmentStatus.SCHEDULED:
        _unconfirm(appointment)
    else:
        appointment.status = new.value
    appointment.updated_at = now
    audit.record(
        session,
        appointment.organization_id,
        actor,
        "appointment.status_changed",
        "appointment",
        appointment.id,
        {"from": current.value, "to": new.value},
        at=now,
    )
    if new in ENDED:
        automation.cancel_texts(session, appointment, now, ENDED_REASONS[new])


def via_of(actor: str) -> str:
    """How a confirmation by ``actor`` came: ``api`` for an API key, else ``staff``."""
    return "api" if actor.startswith("api_key:") else "staff"
