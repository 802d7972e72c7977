"""Reading appointments: lists by time, and each one as the API and the pages show it.

``described`` adds what a person needs next to the row: the patient's name, the location,
the time zone it is told in, and each rule's planned text from ``AppointmentText`` (with
its message's status once sent), so a page shows why a reminder was skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from clinictext.domain.appointments import STATUSES, AppointmentStatus
from clinictext.services.errors import Invalid
from clinictext.services.orgs import get_org
from clinictext.store.models import (
    Appointment,
    AppointmentText,
    Location,
    Message,
    Patient,
    Rule,
)

MAX_LIST = 200


def status_of(value: str) -> AppointmentStatus:
    try:
        return AppointmentStatus(value)
    except ValueError:
        raise Invalid(
            f"'{value[:40]}' is not an appointment status: use one of {', '.join(STATUSES)}.",
            code="invalid_status",
            field="status",
        ) from None


# --- listing --------------------------------------------------------------------------------


def cursor_of(appointment: Appointment) -> str:
    """The keyset cursor after ``appointment``: its start (microseconds) and id."""
    micros = int(appointment.starts_at.timestamp()) * 1_000_000 + appointment.starts_at.microsecond
    return f"{micros}.{appointment.id}"


def _read_cursor(cursor: str) -> tuple[datetime, int]:
    micros, _, ident = cursor.partition(".")
    digits = micros.lstrip("-")
    if not (digits.isdecimal() and ident.isdecimal() and len(digits) <= 17 and len(ident) <= 18):
        raise Invalid(
            "The cursor is not one this API returned; start again without a cursor.",
            code="invalid_cursor",
            field="cursor",
        )
    seconds, rest = divmod(int(micros), 1_000_000)
    try:
        at = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest)
    except (OverflowError, ValueError, OSError):
        raise Invalid(
            "The cursor is not one this API returned; start again without a cursor.",
            code="invalid_cursor",
            field="cursor",
        ) from None
    return at, int(ident)


def list_appointments(
    session: Session,
    org_id: int,
    *,
    patient_id: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> list[Appointment]:
    """Appointments by start time (then id), from ``start`` (included) to ``end`` (excluded).

    ``cursor`` is ``cursor_of`` the last appointment of the previous page; ask for one more
    than a page to know whether there is a next one.
    """
    query = select(Appointment).where(Appointment.organization_id == org_id)
    if patient_id is not None:
        query = query.where(Appointment.patient_id == patient_id)
    if start is not None:
        query = query.where(Appointment.starts_at >= start)
    if end is not None:
        query = query.where(Appointment.starts_at < end)
    if status is not None:
        query = query.where(Appointment.status == status_of(status).value)
    if cursor:
        at, ident = _read_cursor(cursor)
        query = query.where(
            or_(
                Appointment.starts_at > at,
                and_(Appointment.starts_at == at, Appointment.id > ident),
            )
        )
    query = query.order_by(Appointment.starts_at, Appointment.id).limit(min(limit, MAX_LIST + 1))
    return list(session.scalars(query))


# --- describing -----------------------------------------------------------------------------


def described(session: Session, appointment: Appointment) -> dict[str, Any]:
    """The appointment as the API shows it, with the patient's name and its planned texts."""
    return described_many(session, [appointment])[0]


def described_many(session: Session, appointments: Sequence[Appointment]) -> list[dict[str, Any]]:
    """``described`` for many appointments, in a fixed number of queries."""
    if not appointments:
        return []
    org = get_org(session, appointments[0].organization_id)
    patient_ids = {a.patient_id for a in appointments}
    names = {
        pid: f"{first} {last}".strip()
        for pid, first, last in session.execute(
            select(Patient.id, Patient.first_name, Patient.last_name).where(
                Patient.id.in_(patient_ids)
            )
        )
    }
    location_ids = {a.location_id for a in appointments if a.location_id is not None}
    locations: dict[int, Location] = {}
    if location_ids:
        found = session.scalars(select(Location).where(Location.id.in_(location_ids)))
        locations = {loc.id: loc for loc in found}
    texts = _texts(session, [a.id for a in appointments])
    out = []
    for a in appointments:
        location = locations.get(a.location_id) if a.location_id is not None else None
        zone = location.timezone if location and location.timezone else org.timezone
        out.append(
            {
                "id": a.id,
                "patient_id": a.patient_id,
                "patient_name": names.get(a.patient_id, ""),
                "starts_at": a.starts_at,
                "status": a.status,
                "confirm_code": a.confirm_code,
                "provider": a.provider_name,
                "location_id": a.location_id,
                "location_name": location.name if location else None,
                "timezone": zone,
                "external_id": a.external_id,
                "confirmed_at": a.confirmed_at,
                "confirmed_via": a.confirmed_via,
                "created_at": a.created_at,
                "updated_at": a.updated_at,
                "texts": texts.get(a.id, []),
            }
        )
    return out


def _texts(session: Session, appointment_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    rows = session.execute(
        select(AppointmentText, Rule.name, Rule.purpose, Message.status, Message.handed_at)
        .join(Rule, Rule.id == AppointmentText.rule_id)
        .outerjoin(Message, Message.id == AppointmentText.message_id)
        .where(AppointmentText.appointment_id.in_(appointment_ids))
        .order_by(AppointmentText.due_at, AppointmentText.id)
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for text, rule_name, purpose, message_status, handed_at in rows:
        out.setdefault(text.appointment_id, []).append(
            {
                "rule_id": text.rule_id,
                "rule_name": rule_name,
                "purpose": purpose,
                "due_at": text.due_at,
                "state": text.state,
                "reason": text.reason,
                "message_id": text.message_id,
                "message_status": message_status,
                # When it was handed to the provider: the time it was sent.
                "sent_at": handed_at,
            }
        )
    return out
