"""Reading what staff type into the appointments page's forms: a day, a time of day in
the clinic's time zone, and a patient by name or number; each problem in words, by field.

Browsers send a date field as YYYY-MM-DD and a time field as HH:MM, but a page without
those controls gets what a person types ("3:30 pm"), so both are read.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from clinictext.api.schemas import BROKEN_TEXT, has_broken_text
from clinictext.domain.appointments import StartRefused, read_local_start
from clinictext.services import patients
from clinictext.services.errors import NotFound
from clinictext.store.models import Patient
from clinictext.web.pages.appointments_view import today_in

# Days outside these years are typing slips; they also keep "next day" within the calendar.
FIRST_YEAR, LAST_YEAR = 2000, 2999
DAY_EXAMPLE = "2026-12-01"
TIME_EXAMPLE = "15:30"


def read_day(raw: str) -> date | str:
    """A day typed or linked as YYYY-MM-DD, or why it is not one."""
    text = raw.strip()
    try:
        day = date.fromisoformat(text) if len(text) == len(DAY_EXAMPLE) else None
    except ValueError:
        day = None
    if day is None:
        return f"'{text[:40]}' is not a day: enter it as YYYY-MM-DD, e.g. {DAY_EXAMPLE}."
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        return f"Enter a day between the years {FIRST_YEAR} and {LAST_YEAR}."
    return day


_TIME = re.compile(r"^(\d{1,2})(?::(\d{2})(?::00)?)?(?:\s*([ap])\.?\s*m\.?)?$", re.IGNORECASE)


def read_clock(raw: str) -> time | None:
    """A time of day as typed: 15:30, 9:05, 3:30 PM, 3 pm; None when it is not one."""
    found = _TIME.match(raw.strip())
    if not found:
        return None
    hour, minute, half = int(found[1]), int(found[2] or 0), (found[3] or "").lower()
    if found[2] is None and not half:
        return None
    if half:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if half == "p" else 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def read_start(day_text: str, time_text: str, zone: ZoneInfo) -> datetime | dict[str, str]:
    """The instant a date and a time typed in ``zone`` name, or the errors by field."""
    errors: dict[str, str] = {}
    day: date | str | None = None
    if not day_text.strip():
        errors["date"] = f"Choose the appointment's date, e.g. {DAY_EXAMPLE}."
    else:
        day = read_day(day_text)
        if isinstance(day, str):
            errors["date"] = day
    clock = read_clock(time_text) if time_text.strip() else None
    if not time_text.strip():
        errors["time"] = f"Choose the start time, e.g. {TIME_EXAMPLE}."
    elif clock is None:
        errors["time"] = (
            f"'{time_text.strip()[:20]}' is not a time: enter it as HH:MM, e.g. {TIME_EXAMPLE} "
            "or 3:30 PM."
        )
    if errors or not isinstance(day, date) or clock is None:
        return errors
    try:
        return read_local_start(f"{day.isoformat()} {clock:%H:%M}", zone)
    except StartRefused as err:
        return {"time": str(err)}


def start_field(typed_day: str, zone: ZoneInfo, now: datetime) -> str:
    """The field a refused start belongs to: the time on today's date, else the date."""
    day = read_day(typed_day)
    return "time" if isinstance(day, date) and day == today_in(zone, now) else "date"


def typing_problem(value: str, what: str) -> str | None:
    """Text no database can store (a NUL, half of an emoji), said as the API says it."""
    if "\x00" in value:
        return f"The {what} contains a NUL character; remove it."
    if has_broken_text(value):
        return f"The {what} {BROKEN_TEXT}."
    return None


# --- patients ------------------------------------------------------------------------------


def patient_name(patient: Patient) -> str:
    name = f"{patient.first_name} {patient.last_name}".strip()
    return name or f"Patient #{patient.id}"


def patient_choice(patient: Patient) -> str:
    """How the booking form writes a chosen patient: the name, then the number."""
    return f"{patient_name(patient)} (#{patient.id})"


_NUMBER = re.compile(r"^(?:.*\(\s*)?#?\s*(\d{1,18})\s*\)?\s*$")


def find_patient(session: Session, org_id: int, typed: str) -> Patient | str:
    """The patient named by what was typed (a number, 'Name (#12)', or a unique name), or
    what to type instead."""
    text = typed.strip()
    if not text:
        return "Type the patient's name or number, e.g. Pat Test or #12."
    problem = typing_problem(text, "patient's name")
    if problem:
        return problem
    number = _NUMBER.match(text)
    if number:
        try:
            return patients.get_patient(session, org_id, int(number[1]))
        except NotFound:
            return f"No patient has the number #{number[1]}: check it, or type the name."
    found = patients.list_patients(session, org_id, q=text, unknown_sender=False, limit=6).items
    exact = [p for p in found if patient_name(p).lower() == " ".join(text.lower().split())]
    if len(exact) == 1 or len(found) == 1:
        return (exact or found)[0]
    if not found:
        return f"No patient is called '{text[:60]}': check the spelling, or type the number."
    shown = ", ".join(patient_choice(p) for p in (exact or found)[:5])
    return (
        f"More than one patient matches '{text[:60]}' ({shown}): type the number of the one "
        "you mean, e.g. #12."
    )


def patient_options(session: Session, org_id: int, typed: str) -> list[str]:
    """Patients whose name (or external id) matches, as the booking form writes them."""
    text = typed.strip()
    if len(text) < 2 or _NUMBER.match(text) or typing_problem(text, "name"):
        return []
    rows = patients.list_patients(session, org_id, q=text, unknown_sender=False, limit=10).items
    return [patient_choice(p) for p in rows]
