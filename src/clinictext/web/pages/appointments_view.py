"""What the appointments pages show, in the clinic's words: a day of appointments in the
clinic's time zone, each with its status, confirm code, the actions its state allows and
what became of each of its reminder and confirmation texts.

The appointments service says what is stored and the appointments domain what may change;
this module only turns both into words, so the routes stay thin. Reading what staff type
into the forms is ``appointments_forms``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from clinictext.domain.appointments import (
    AppointmentStatus,
    ChangeRefused,
    check_move,
    check_status_change,
    when_words,
)
from clinictext.domain.statuses import Status, label
from clinictext.services import appointments
from clinictext.services.appointment_view import MAX_LIST
from clinictext.store.models import Appointment

STATUS_WORDS = {
    "scheduled": "Scheduled",
    "confirmed": "Confirmed",
    "canceled": "Canceled",
    "completed": "Completed",
    "no_show": "No-show",
}
STATUS_TONES = {
    "scheduled": "tone-info",
    "confirmed": "tone-ok",
    "canceled": "tone-muted",
    "completed": "tone-muted",
    "no_show": "tone-bad",
}
PURPOSE_WORDS = {"reminder": "Reminder", "confirmation": "Confirmation"}
VIA_WORDS = {
    "reply": "by the patient's reply",
    "staff": "by staff",
    "api": "by another program",
    "import": "by an import",
}
# The status changes a button of the list asks for, and what the answer says was done.
ACTIONS = {
    "confirmed": "confirmed",
    "canceled": "canceled",
    "completed": "marked completed",
    "no_show": "marked as a no-show",
}
# A day's list shows this many appointments (a clinic's day is far shorter), read in pages
# of what the service lists at once.
DAY_LIMIT = 400
# The patient page lists the next few.
UPCOMING_LIMIT = 5


# --- times -------------------------------------------------------------------------------


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def today_in(zone: ZoneInfo, now: datetime) -> date:
    return now.astimezone(zone).date()


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants where ``day`` starts and the next day starts, in ``zone``."""
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def day_title(day: date, today: date) -> str:
    words = f"{day:%A, %B} {day.day}, {day.year}"
    if day == today:
        return f"Today, {words}"
    if day == today + timedelta(days=1):
        return f"Tomorrow, {words}"
    if day == today - timedelta(days=1):
        return f"Yesterday, {words}"
    return words


def clock_words(at: datetime, zone: ZoneInfo) -> str:
    local = at.astimezone(zone)
    return f"{local.hour % 12 or 12}:{local.minute:02d} {'AM' if local.hour < 12 else 'PM'}"


def moment_words(at: datetime, zone: ZoneInfo, day: date | None = None) -> str:
    """'3:30 PM' on ``day`` itself, 'Mon, Nov 30 at 9:00 AM' on any other day."""
    if day is not None and at.astimezone(zone).date() == day:
        return clock_words(at, zone)
    return when_words(at, zone)


# --- an appointment, in words ----------------------------------------------------------------


@dataclass(frozen=True)
class TextLine:
    """One rule's text for an appointment: 'Reminder — sent 9:00 AM' with its label."""

    purpose: str
    rule_name: str
    words: str
    label: str | None = None
    message_id: int | None = None


@dataclass(frozen=True)
class Row:
    id: int
    starts_at: datetime
    time: str
    when: str
    patient_id: int
    patient_name: str
    provider: str | None
    status: str
    status_word: str
    status_tone: str
    code: str
    confirmed: str | None
    texts: list[TextLine]
    actions: frozenset[str]
    day: date


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def text_line(text: dict[str, Any], zone: ZoneInfo, day: date | None = None) -> TextLine:
    """What became of one rule's text, in words."""
    purpose = PURPOSE_WORDS.get(str(text.get("purpose")), "Text")
    rule_name = str(text.get("rule_name") or "")
    state = text.get("state")
    due = _when(text.get("due_at"))
    reason = str(text.get("reason") or "").strip()
    message_id = text.get("message_id")
    status = text.get("message_status")
    if state == "planned":
        words = f"planned for {moment_words(due, zone, day)}" if due else "planned"
        return TextLine(purpose, rule_name, words)
    if state == "skipped":
        return TextLine(purpose, rule_name, f"skipped: {reason or 'no reason was recorded.'}")
    if state == "canceled" and not message_id:
        return TextLine(purpose, rule_name, f"canceled: {reason}" if reason else "canceled")
    if status is None:
        return TextLine(purpose, rule_name, "written", None, message_id)
    try:
        shown = label(Status(status)).value
    except ValueError:
        shown = None
    # When it was handed to the provider, where the appointment's description says so.
    sent = _when(text.get("sent_at"))
    if status == Status.SCHEDULED.value:
        words = "waiting for the send window"
        if due:
            words += f" (due {moment_words(due, zone, day)})"
    elif status in (Status.QUEUED.value, Status.SENDING.value):
        words = "going out now"
    elif status == Status.CANCELED.value:
        words = f"canceled: {reason}" if reason else "canceled before it was sent"
    elif status == Status.FAILED.value:
        words = "not sent"
    else:
        words = f"sent {moment_words(sent, zone, day)}" if sent else "sent"
    return TextLine(purpose, rule_name, words, shown, message_id)


def allowed_actions(appointment: Appointment, now: datetime) -> frozenset[str]:
    """The buttons an appointment shows: the status changes and the move its state allows."""
    current = AppointmentStatus(appointment.status)
    allowed: set[str] = set()
    for target in ACTIONS:
        if target == current.value:
            continue
        try:
            check_status_change(current, AppointmentStatus(target), appointment.starts_at, now)
        except ChangeRefused:
            continue
        allowed.add(target)
    try:
        check_move(current, appointment.starts_at, now)
    except ChangeRefused:
        pass
    else:
        allowed.add("move")
    return frozenset(allowed)


def rows(
    session: Session, found: Sequence[Appointment], zone: ZoneInfo, now: datetime
) -> list[Row]:
    """Appointments as the lists show them."""
    shapes = appointments.described_many(session, found)
    return [_row(a, shape, zone, now) for a, shape in zip(found, shapes, strict=True)]


def _row(appointment: Appointment, shape: dict[str, Any], zone: ZoneInfo, now: datetime) -> Row:
    local_day = appointment.starts_at.astimezone(zone).date()
    confirmed_at = _when(shape.get("confirmed_at"))
    confirmed = None
    if confirmed_at is not None:
        via = VIA_WORDS.get(str(shape.get("confirmed_via") or ""))
        confirmed = f"Confirmed {via + ' ' if via else ''}on {when_words(confirmed_at, zone)}"
    texts = [text_line(text, zone, local_day) for text in shape.get("texts") or []]
    return Row(
        id=appointment.id,
        starts_at=appointment.starts_at,
        time=clock_words(appointment.starts_at, zone),
        when=when_words(appointment.starts_at, zone),
        patient_id=appointment.patient_id,
        patient_name=str(shape.get("patient_name") or f"Patient #{appointment.patient_id}"),
        provider=appointment.provider_name,
        status=appointment.status,
        status_word=STATUS_WORDS.get(appointment.status, appointment.status),
        status_tone=STATUS_TONES.get(appointment.status, "tone-muted"),
        code=appointment.confirm_code,
        confirmed=confirmed,
        texts=texts,
        actions=allowed_actions(appointment, now),
        day=local_day,
    )


def row(session: Session, appointment: Appointment, zone: ZoneInfo, now: datetime) -> Row:
    """One appointment as the lists show it."""
    return rows(session, [appointment], zone, now)[0]


@dataclass
class DayView:
    """A day of the clinic's appointments."""

    day: date
    today: date
    title: str
    previous: date
    next: date
    timezone: str
    rows: list[Row] = field(default_factory=list)
    more: bool = False


def day_view(session: Session, org_id: int, timezone: str, day: date, now: datetime) -> DayView:
    zone = zone_of(timezone)
    start, end = day_bounds(day, zone)
    found: list[Appointment] = []
    cursor = None
    while len(found) <= DAY_LIMIT:
        page = appointments.list_appointments(
            session, org_id, start=start, end=end, limit=MAX_LIST, cursor=cursor
        )
        found.extend(page)
        if len(page) < MAX_LIST:
            break
        cursor = appointments.cursor_of(page[-1])
    today = today_in(zone, now)
    return DayView(
        day=day,
        today=today,
        title=day_title(day, today),
        previous=day - timedelta(days=1),
        next=day + timedelta(days=1),
        timezone=timezone,
        rows=rows(session, found[:DAY_LIMIT], zone, now),
        more=len(found) > DAY_LIMIT,
    )


def upcoming(
    session: Session, org_id: int, patient_id: int, timezone: str, now: datetime
) -> list[Row]:
    """The patient's next appointments (canceled ones too, so staff see what happened)."""
    zone = zone_of(timezone)
    found = appointments.list_appointments(
        session, org_id, patient_id=patient_id, start=now, limit=UPCOMING_LIMIT
    )
    return rows(session, found, zone, now)
