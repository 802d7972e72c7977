"""The appointments page, ``/appointments?day=YYYY-MM-DD``: one day of the clinic's
appointments in its time zone, each with its status, confirm code and what became of its
reminder and confirmation texts; a form to book one; and per appointment Move, Confirm,
Cancel, Mark completed and No-show. The patient page's Appointments section is
``appointments_patient``, included here.

Every change goes through the services the API uses (``appointments.create``/``update``,
``confirmations.confirm``) with the signed-in user as the actor. With htmx a form answers
with its part of the page and, out of band, the day's list with what was done; without
JavaScript the whole page is rendered again. A refusal shows next to its field with what
was typed, and the transaction is rolled back. The day's list refreshes itself when texts
change (``sse:inbox``, at most every 5 seconds: a campaign changes it every second) and
every half minute (a skipped text writes no message), answering 204 when nothing it shows
changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from clinictext.api.deps import SessionDep
from clinictext.api.schemas import MAX_ID
from clinictext.domain.appointments import AppointmentStatus
from clinictext.services import appointments, orgs
from clinictext.services.clock import utcnow
from clinictext.services.errors import ServiceError
from clinictext.services.web_sessions import SignedIn
from clinictext.web.access import Staff, StaffPage, page_chrome
from clinictext.web.forms import FORM_ERROR, refusal
from clinictext.web.pages import appointments_forms as forms
from clinictext.web.pages import appointments_patient
from clinictext.web.pages import appointments_view as view
from clinictext.web.render import ENV, html

router = APIRouter(include_in_schema=False)

RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
# Long enough that the service refuses an overlong value next to its field.
FormText = Annotated[str, Form(max_length=2000)]
DayQuery = Annotated[str, Query(max_length=40)]
# The service's names of the fields a refusal is about, as the forms name them.
BOOK_FIELDS = {"patient_id": "patient", "provider": "provider", "provider_name": "provider"}


@dataclass
class FormState:
    """A form as shown: what was typed, the errors by field, what was saved."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class MovePanel:
    row: view.Row
    form: FormState


@dataclass
class Screen:
    """Everything the page shows at once; a fragment shows some of it."""

    day: date
    day_typed: str = ""
    day_error: str | None = None
    notice: str | None = None
    book: FormState = field(default_factory=FormState)
    move: MovePanel | None = None
    row_errors: dict[int, str] = field(default_factory=dict)


def _render(request: Request, template: str, context: dict[str, Any]) -> Markup:
    values = {
        "request": request,
        "user": getattr(request.state, "signed_in", None),
        "now": utcnow(),
        **context,
    }
    return Markup(ENV.get_template(template).render(values))


def _fingerprint(inner: str) -> str:
    return hashlib.sha256(inner.encode()).hexdigest()[:16]


def _clinic_timezone(session: Session, org_id: int) -> str:
    return orgs.get_org(session, org_id).timezone


def _list_html(
    request: Request, day: view.DayView, row_errors: dict[int, str] | None = None
) -> tuple[Markup, str]:
    """The day's live list and its fingerprint, which leaves out a refusal (so a refresh
    that finds nothing else changed keeps it on screen)."""
    plain = _render(request, "_appointments_rows.html", {"view": day, "row_errors": {}})
    inner = (
        _render(request, "_appointments_rows.html", {"view": day, "row_errors": row_errors})
        if row_errors
        else plain
    )
    seen = _fingerprint(plain)
    context = {"view": day, "inner": inner, "seen": seen}
    return _render(request, "_appointments_list.html", context), seen


def _context(request: Request, session: Session, user: SignedIn, screen: Screen) -> dict[str, Any]:
    now = utcnow()
    timezone = _clinic_timezone(session, user.org_id)
    day = view.day_view(session, user.org_id, timezone, screen.day, now)
    return {
        "active": "appointments",
        "view": day,
        "screen": screen,
        "list_html": _list_html(request, day, screen.row_errors)[0],
        "timezone": timezone,
        "oob": (),
    }


def _page(
    request: Request, session: Session, user: SignedIn, screen: Screen, status: int = 200
) -> HTMLResponse:
    if getattr(request.state, "chrome", None) is None:
        page_chrome(request, user)
    context = _context(request, session, user, screen)
    return html(request, "appointments.html", context, status=status)


def _fragments(
    request: Request,
    session: Session,
    user: SignedIn,
    screen: Screen,
    parts: tuple[str, ...],
    *,
    oob: tuple[str, ...] = (),
    status: int = 200,
    push_day: bool = False,
) -> HTMLResponse:
    """Parts of the page (``book``, ``move``, ``day``); those in ``oob`` swap in out of band."""
    context = {**_context(request, session, user, screen), "parts": parts, "oob": oob}
    headers = {"HX-Push-Url": f"/appointments?day={screen.day.isoformat()}"} if push_day else None
    return html(request, "_appointments_parts.html", context, status=status, headers=headers)


def _is_htmx(request: Request) -> bool:
    return bool(request.headers.get("hx-request"))


def _today(session: Session, org_id: int) -> date:
    zone = view.zone_of(_clinic_timezone(session, org_id))
    return view.today_in(zone, utcnow())


def _day_or_today(session: Session, org_id: int, typed: str) -> date:
    day = forms.read_day(typed) if typed.strip() else None
    return day if isinstance(day, date) else _today(session, org_id)


# --- the page ---------------------------------------------------------------------------------


@router.get("/appointments", response_class=HTMLResponse)
def appointments_page(
    request: Request,
    user: StaffPage,
    session: SessionDep,
    day: DayQuery = "",
    move: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    patient: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> HTMLResponse:
    """A day of appointments (today by default); ``move`` opens an appointment's Move form
    and ``patient`` fills the booking form's patient (links that work without JavaScript)."""
    screen = Screen(day=_today(session, user.org_id), day_typed=day)
    status = 200
    if day.strip():
        chosen = forms.read_day(day)
        if isinstance(chosen, date):
            screen.day = chosen
        else:
            screen.day_error, status = chosen, 422
    if patient is not None:
        found = forms.find_patient(session, user.org_id, f"#{patient}")
        if isinstance(found, str):
            screen.book.errors["patient"] = found
        else:
            screen.book.values["patient"] = forms.patient_choice(found)
    if move is not None:
        screen.move = _move_panel(session, user, move, FormState())
    return _page(request, session, user, screen, status)


@router.get("/appointments/list", response_model=None)
def day_list(
    request: Request, user: Staff, session: SessionDep, day: DayQuery = "", seen: DayQuery = ""
) -> Response:
    """The day's list, fresh; 204 when it would show what the page already shows."""
    chosen = _day_or_today(session, user.org_id, day)
    timezone = _clinic_timezone(session, user.org_id)
    shown = view.day_view(session, user.org_id, timezone, chosen, utcnow())
    body, fingerprint = _list_html(request, shown)
    if seen and seen == fingerprint:
        return Response(status_code=204)
    return HTMLResponse(body)


@router.get("/appointments/patients", response_class=HTMLResponse)
def patient_options(
    user: Staff, session: SessionDep, patient: Annotated[str, Query(max_length=100)] = ""
) -> HTMLResponse:
    """The booking form's suggestions: patients whose name matches what is typed."""
    options = forms.patient_options(session, user.org_id, patient)
    return HTMLResponse(
        ENV.get_template("_appointments_patient_options.html").render({"options": options})
    )


# --- booking -------------------------------------------------------------------------------


@router.post("/appointments", response_class=HTMLResponse)
def book(
    request: Request,
    user: Staff,
    session: SessionDep,
    patient: FormText = "",
    date_: Annotated[str, Form(alias="date", max_length=40)] = "",
    time: Annotated[str, Form(max_length=40)] = "",
    provider: FormText = "",
    day: Annotated[str, Form(max_length=40)] = "",
) -> HTMLResponse:
    """Book an appointment at a date and time of the clinic's time zone."""
    typed = {"patient": patient, "date": date_, "time": time, "provider": provider}
    screen = Screen(day=_day_or_today(session, user.org_id, day), book=FormState(values=typed))
    zone = view.zone_of(_clinic_timezone(session, user.org_id))
    now = utcnow()
    found = forms.find_patient(session, user.org_id, patient)
    start = forms.read_start(date_, time, zone)
    errors = dict(start) if isinstance(start, dict) else {}
    if isinstance(found, str):
        errors["patient"] = found
    problem = forms.typing_problem(provider, "provider's name")
    if problem:
        errors["provider"] = problem
    if not errors and not isinstance(found, str) and isinstance(start, datetime):
        try:
            booked = appointments.create(
                session,
                user.org_id,
                patient_id=found.id,
                starts_at=start,
                provider_name=provider.strip() or None,
                actor=user.actor,
                now=now,
            )
        except ServiceError as err:
            fields = {**BOOK_FIELDS, "starts_at": forms.start_field(date_, zone, now)}
            said = refusal(session, err)
            errors = {fields.get(k, k): v for k, v in said.errors.items()}
        else:
            shown = view.row(session, booked, zone, now)
            screen.day = shown.day
            screen.book = FormState()
            screen.notice = (
                f"Booked {shown.patient_name} for {shown.when}. Confirm code: {shown.code}."
            )
            if not _is_htmx(request):
                return _page(request, session, user, screen)
            return _fragments(
                request, session, user, screen, ("book", "day"), oob=("day",), push_day=True
            )
    screen.book.errors = errors
    if not _is_htmx(request):
        return _page(request, session, user, screen, 422)
    return _fragments(request, session, user, screen, ("book",), status=422)


# --- moving --------------------------------------------------------------------------------


def _move_panel(
    session: Session, user: SignedIn, appointment_id: int, form: FormState
) -> MovePanel:
    appointment = appointments.get(session, user.org_id, appointment_id)
    zone = view.zone_of(_clinic_timezone(session, user.org_id))
    shown = view.row(session, appointment, zone, utcnow())
    if not form.values:
        local = appointment.starts_at.astimezone(zone)
        form.values = {"date": local.date().isoformat(), "time": f"{local:%H:%M}"}
    return MovePanel(shown, form)


@router.get("/appointments/{appointment_id}/move", response_class=HTMLResponse)
def move_form(
    request: Request, user: Staff, session: SessionDep, appointment_id: RowId, day: DayQuery = ""
) -> HTMLResponse:
    """The Move form of one appointment, in the panel above the day's list."""
    screen = Screen(day=_day_or_today(session, user.org_id, day))
    screen.move = _move_panel(session, user, appointment_id, FormState())
    return _fragments(request, session, user, screen, ("move",))


@router.post("/appointments/{appointment_id}/move", response_class=HTMLResponse)
def move(
    request: Request,
    user: Staff,
    session: SessionDep,
    appointment_id: RowId,
    date_: Annotated[str, Form(alias="date", max_length=40)] = "",
    time: Annotated[str, Form(max_length=40)] = "",
    day: Annotated[str, Form(max_length=40)] = "",
) -> HTMLResponse:
    """Move an appointment to another date and time; its unsent texts are planned again."""
    typed = {"date": date_, "time": time}
    screen = Screen(day=_day_or_today(session, user.org_id, day))
    zone = view.zone_of(_clinic_timezone(session, user.org_id))
    now = utcnow()
    appointments.get(session, user.org_id, appointment_id)
    start = forms.read_start(date_, time, zone)
    errors = dict(start) if isinstance(start, dict) else {}
    if isinstance(start, datetime):
        try:
            moved = appointments.update(
                session, user.org_id, appointment_id, actor=user.actor, now=now, starts_at=start
            )
        except ServiceError as err:
            field_name = forms.start_field(date_, zone, now)
            said = refusal(session, err, FORM_ERROR)
            errors = {(field_name if k == "starts_at" else k): v for k, v in said.errors.items()}
        else:
            shown = view.row(session, moved, zone, now)
            screen.day = shown.day
            screen.notice = f"Moved {shown.patient_name}'s appointment to {shown.when}."
            if not _is_htmx(request):
                return _page(request, session, user, screen)
            return _fragments(
                request, session, user, screen, ("move", "day"), oob=("day",), push_day=True
            )
    screen.move = _move_panel(session, user, appointment_id, FormState(typed, errors))
    if not _is_htmx(request):
        return _page(request, session, user, screen, 422)
    return _fragments(request, session, user, screen, ("move",), status=422)


# --- status changes ----------------------------------------------------------------------------


@router.post("/appointments/{appointment_id}/status", response_class=HTMLResponse)
def change_status(
    request: Request,
    user: Staff,
    session: SessionDep,
    appointment_id: RowId,
    status: Annotated[str, Form(max_length=20)] = "",
    day: Annotated[str, Form(max_length=40)] = "",
) -> HTMLResponse:
    """Confirm, cancel, or mark an appointment completed or a no-show."""
    screen = Screen(day=_day_or_today(session, user.org_id, day))
    zone = view.zone_of(_clinic_timezone(session, user.org_id))
    now = utcnow()
    appointment = appointments.get(session, user.org_id, appointment_id)
    name = view.row(session, appointment, zone, now).patient_name
    answer = 200
    if status not in view.ACTIONS:
        screen.row_errors[appointment_id] = (
            "Use one of the buttons: Confirm, Cancel, Mark completed or No-show."
        )
        answer = 422
    else:
        try:
            # A confirmation goes through the same change as the API's (the row is locked,
            # so a patient's confirming reply at the same moment cannot race it).
            changed = appointments.update(
                session, user.org_id, appointment_id, actor=user.actor, now=now, status=status
            )
        except ServiceError as err:
            said = refusal(session, err)
            screen.row_errors[appointment_id] = " ".join(said.errors.values())
            answer = said.status
        else:
            when = view.row(session, changed, zone, now).when
            screen.notice = f"{name}'s appointment on {when} is {view.ACTIONS[status]}."
            if status == AppointmentStatus.CANCELED.value:
                screen.notice += " Its texts that were not sent yet are canceled."
    if not _is_htmx(request):
        return _page(request, session, user, screen, answer)
    return _fragments(request, session, user, screen, ("day",), status=answer)


# The patient page's Appointments section answers under /patients/{id}/appointments.
router.include_router(appointments_patient.router)
