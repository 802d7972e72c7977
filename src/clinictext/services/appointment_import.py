"""Importing appointments from a CSV file (a practice system's export), all or nothing.

A file is one of appointments when its header has a ``starts_at`` column. Columns (header
row required, any order): the patient, by ``patient_external_id`` (the practice system's
id), ``patient_id`` (clinictext's) or ``phone`` (the first of these a row fills);
``starts_at`` (required: ISO 8601 with its offset, or ``YYYY-MM-DD HH:MM`` read in the
location's time zone, else the organization's); ``provider``; ``location`` (a location's
name or id); ``external_id``; ``status`` (scheduled, confirmed, canceled, completed or
no_show).

A row whose ``external_id`` matches an appointment updates it (a new start moves it and
re-plans its texts) and never books a second one; an ``external_id`` may appear on one row
of a file only. The report (``importing.ImportReport``) and the all-or-nothing rule are
those of the patient import; each row runs in a savepoint.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinictext.domain.appointments import AppointmentStatus, StartRefused, read_local_start
from clinictext.domain.phones import display
from clinictext.services import appointments, importing
from clinictext.services.clock import utcnow
from clinictext.services.errors import Invalid
from clinictext.services.importing import (
    MAX_FIELD,
    BadFile,
    CsvRow,
    ImportReport,
)
from clinictext.services.orgs import get_org
from clinictext.services.patients import get_patient, read_phone
from clinictext.store.models import Location, Organization, Patient

PATIENT_COLUMNS = ("patient_external_id", "patient_id", "phone")
COLUMNS = (*PATIENT_COLUMNS, "starts_at", "provider", "location", "external_id", "status")
# The column that tells an appointment file from a patient file.
MARK = "starts_at"


def _header(text: str) -> list[str]:
    return [h.strip().lower() for h in next(csv.reader(io.StringIO(text, newline="")), [])]


def is_appointment_file(data: bytes) -> bool:
    """Whether the header row has a ``starts_at`` column (an unreadable file is not)."""
    try:
        first = data[:65536].decode("utf-8-sig").split("\n", 1)[0]
        return MARK in _header(first)
    except (UnicodeDecodeError, csv.Error):
        return False


def read_csv(data: bytes) -> list[CsvRow]:
    """The records of an appointment file keyed by the (normalized) header, or ``BadFile``:
    the patient file's reader with this file's columns."""
    return importing.read_csv(data, _check_header)


def _check_header(header: list[str]) -> None:
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise BadFile(
            f"Unknown column(s) for appointments: {', '.join(unknown)}. Allowed columns: "
            f"{', '.join(COLUMNS)}."
        )
    if not any(c in header for c in PATIENT_COLUMNS):
        raise BadFile(
            "The header row names no patient column: add patient_external_id, patient_id or phone."
        )
    if len(set(header)) != len(header):
        raise BadFile("A column appears twice in the header row.")


def _value(row: dict[str, str], name: str) -> str | None:
    raw = row.get(name, "").strip()
    if len(raw) > MAX_FIELD:
        raise Invalid(f"{name} is longer than {MAX_FIELD} characters.")
    return raw or None


class _Lookups:
    """What rows look up again and again, read once per import."""

    def __init__(self, session: Session, org: Organization) -> None:
        self.session, self.org = session, org
        self.locations = list(
            session.scalars(select(Location).where(Location.organization_id == org.id))
        )

    def patient(self, row: dict[str, str]) -> Patient:
        org_id = self.org.id
        external_id = _value(row, "patient_external_id")
        if external_id is not None:
            found = self.session.scalar(
                select(Patient).where(
                    Patient.organization_id == org_id, Patient.external_id == external_id
                )
            )
            if found is None:
                raise Invalid(
                    f"No patient has the external id '{external_id[:64]}': import the "
                    "patients first, or correct the id."
                )
            return found
        patient_id = _value(row, "patient_id")
        if patient_id is not None:
            if not patient_id.isdecimal() or len(patient_id) > 18:
                raise Invalid(f"The patient_id '{patient_id[:40]}' is not a number.")
            return get_patient(self.session, org_id, int(patient_id))
        phone = _value(row, "phone")
        if phone is None:
            raise Invalid(
                "The row names no patient: fill patient_external_id, patient_id or phone."
            )
        parsed = read_phone(phone, self.org.country)
        assert parsed is not None
        found_all = list(
            self.session.scalars(
                select(Patient)
                .where(Patient.organization_id == org_id, Patient.phone == parsed.e164)
                .order_by(Patient.unknown_sender, Patient.id)
                .limit(3)
            )
        )
        known = [p for p in found_all if not p.unknown_sender] or found_all
        if not known:
            raise Invalid(f"No patient has the phone {display(parsed.e164)}.")
        if len(known) > 1:
            raise Invalid(
                f"Several patients share the phone {display(parsed.e164)}: name the patient "
                "with patient_external_id or patient_id on this row."
            )
        return known[0]

    def location(self, name: str) -> Location:
        for loc in self.locations:
            if name.isdecimal() and str(loc.id) == name:
                return loc
        wanted = name.casefold()
        matches = [loc for loc in self.locations if loc.name.strip().casefold() == wanted]
        if len(matches) == 1:
            return matches[0]
        names = ", ".join(loc.name for loc in self.locations[:10]) or "there are none yet"
        raise Invalid(
            f"There is no location '{name[:60]}': use the name or id of one of your locations "
            f"({names})."
        )

    def by_id(self, location_id: int | None) -> Location | None:
        return next((loc for loc in self.locations if loc.id == location_id), None)

    def zone(self, location: Location | None) -> ZoneInfo:
        if location is not None and location.timezone:
            return ZoneInfo(location.timezone)
        return ZoneInfo(self.org.timezone)


def _import_row(
    session: Session, lookups: _Lookups, record: CsvRow, actor: str, now: datetime
) -> bool:
    """Book or update one appointment; True when booked."""
    if record.error is not None:
        raise Invalid(f"The row {record.error}.")
    row = record.values
    org_id = lookups.org.id
    patient = lookups.patient(row)
    external_id = _value(row, "external_id")
    existing = appointments.by_external_id(session, org_id, external_id) if external_id else None
    location_name = _value(row, "location")
    location = lookups.location(location_name) if location_name else None
    if location is None and existing is not None and "location" not in row:
        location = lookups.by_id(existing.location_id)
    raw_start = _value(row, "starts_at")
    if raw_start is None:
        raise Invalid("The starts_at is empty: every appointment needs its start time.")
    try:
        start = read_local_start(raw_start, lookups.zone(location))
    except StartRefused as err:
        raise Invalid(f"The starts_at {err}") from None
    status = _value(row, "status")
    if status is not None:
        status = appointments.status_of(status.lower()).value
    provider = _value(row, "provider")
    if existing is None:
        booked = appointments.create(
            session,
            org_id,
            patient_id=patient.id,
            starts_at=start,
            provider_name=provider,
            location_id=location.id if location else None,
            external_id=external_id,
            actor=actor,
            now=now,
        )
        if status is not None and status != AppointmentStatus.SCHEDULED.value:
            appointments.update(
                session, org_id, booked.id, status=status, actor=actor, now=now, via="import"
            )
        return True
    if existing.patient_id != patient.id:
        raise Invalid(
            f"The appointment with external_id '{external_id}' is patient {existing.patient_id}'s, "
            f"not patient {patient.id}'s: an appointment cannot change patient. Give this row "
            "a new external_id."
        )
    appointments.update(
        session,
        org_id,
        existing.id,
        actor=actor,
        now=now,
        starts_at=start,
        status=status,
        provider_name=provider if "provider" in row else ...,
        location_id=(location.id if location else None) if "location" in row else ...,
        via="import",
    )
    return False


def _repeats(rows: list[CsvRow]) -> dict[int, str]:
    """Why a row repeats an earlier row's external_id, by line."""
    first: dict[str, int] = {}
    out: dict[int, str] = {}
    for record in rows:
        external_id = record.values.get("external_id", "").strip() if record.error is None else ""
        if not external_id:
            continue
        seen = first.setdefault(external_id, record.line)
        if seen != record.line:
            out[record.line] = (
                f"The external_id '{external_id[:64]}' is also on line {seen}: an appointment "
                f"may appear only once in a file. Merge lines {seen} and {record.line} (with "
                f"--skip-invalid, line {record.line} is left out)."
            )
    return out


def import_appointments(
    session: Session,
    org_id: int,
    rows: Iterable[CsvRow],
    *,
    actor: str,
    skip_invalid: bool = False,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> ImportReport:
    """Import every row in the caller's transaction (see ``importing.import_patients``):
    ``report.committed`` False means the caller must roll back."""
    now = now or utcnow()
    org = get_org(session, org_id)
    lookups = _Lookups(session, org)
    rows = list(rows)
    repeats = _repeats(rows)
    return importing.import_rows(
        session,
        rows,
        lambda record: _import_row(session, lookups, record, actor, now),
        lambda record: repeats.get(record.line),
        skip_invalid=skip_invalid,
        progress=progress,
    )
