"""The Lead Dashboard, ``/leads``: a column per stage with its count, a card per lead, and
a form to move a lead to another stage (through ``services.leads.set_stage``).

The stage form opens in a panel above the board rather than inside a card: the board
re-renders itself whenever anything changes (``sse:leads``), and a half-typed reason must
not vanish because a text arrived for someone else.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from clinictext.api.deps import SessionDep
from clinictext.domain.leads import LeadStage, describe
from clinictext.domain.phones import display
from clinictext.services import lead_board, leads, orgs
from clinictext.services.errors import ServiceError
from clinictext.services.patients import get_patient
from clinictext.web.access import Staff, StaffPage, page_chrome
from clinictext.web.forms import FORM_ERROR, refusal
from clinictext.web.render import html

router = APIRouter(include_in_schema=False)

PatientId = Annotated[int, Path(ge=1, le=2**62)]
SearchQuery = Annotated[str, Query(max_length=lead_board.MAX_QUERY)]
SCHEDULED = "scheduled"
SHOW_CHOICES = {"": "All leads", "unread": "Unread only"}


def _view(q: str, show: str) -> dict[str, str]:
    """The board's search and filter, as given (unknown filters read as none)."""
    return {"q": q.strip(), "show": show if show in SHOW_CHOICES else ""}


def _query_string(view: dict[str, str]) -> str:
    return urlencode({k: v for k, v in view.items() if v})


def _board_context(session: SessionDep, org_id: int, view: dict[str, str]) -> dict[str, object]:
    return {
        "board": lead_board.board(
            session, org_id, query=view["q"], unread_only=view["show"] == "unread"
        ),
        "view": view,
        "view_query": _query_string(view),
        "timezone": orgs.get_org(session, org_id).timezone,
        "show_choices": SHOW_CHOICES,
    }


def _panel_context(
    session: SessionDep,
    org_id: int,
    patient_id: int,
    view: dict[str, str],
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, object]:
    patient = get_patient(session, org_id, patient_id)
    current = leads.view(session, org_id, patient_id).lead
    stage = LeadStage(current.stage) if current else None
    if patient.unknown_sender or not patient.first_name.strip():
        name = display(patient.phone) if patient.phone else "Unknown sender"
    else:
        name = f"{patient.first_name} {patient.last_name}".strip()
    return {
        "move": {
            "patient_id": patient_id,
            "name": name,
            "now": describe(stage, current.substatus if current else None),
            "now_reason": current.reason if current else None,
            "typed": typed
            or {"stage": (stage or LeadStage.OPEN).value, "substatus": "", "reason": ""},
            "errors": errors or {},
        },
        "stages": lead_board.STAGE_NAMES,
        "view": view,
        "view_query": _query_string(view),
    }


@router.get("/leads", response_class=HTMLResponse)
def leads_page(
    request: Request,
    user: StaffPage,
    session: SessionDep,
    q: SearchQuery = "",
    show: str = "",
    move: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> HTMLResponse:
    """The whole dashboard; ``move`` opens the stage form of that lead (without htmx)."""
    view = _view(q, show)
    context = _board_context(session, user.org_id, view)
    if move is not None:
        context.update(_panel_context(session, user.org_id, move, view))
    return html(request, "leads.html", {"active": "leads", **context})


@router.get("/leads/board", response_class=HTMLResponse)
def board_fragment(
    request: Request, user: Staff, session: SessionDep, q: SearchQuery = "", show: str = ""
) -> HTMLResponse:
    """The board alone, for its live refresh (keeping the search and filter)."""
    context = _board_context(session, user.org_id, _view(q, show))
    return html(request, "_leads_board.html", context)


@router.get("/leads/{patient_id}/move", response_class=HTMLResponse)
def move_form(
    request: Request,
    user: Staff,
    session: SessionDep,
    patient_id: PatientId,
    q: SearchQuery = "",
    show: str = "",
) -> HTMLResponse:
    """The stage form of one lead, shown in the panel above the board."""
    context = _panel_context(session, user.org_id, patient_id, _view(q, show))
    return html(request, "_leads_move.html", context)


def _stage_change(
    stage: str, substatus: str, scheduled: bool, reason: str
) -> tuple[LeadStage, str | None, str | None] | dict[str, str]:
    """What the form asks for, or the errors of a form that cannot mean anything."""
    try:
        chosen = LeadStage(stage)
    except ValueError:
        return {"stage": "Choose one of the stages in the list."}
    note = substatus.strip() or None
    if scheduled:
        if chosen is not LeadStage.CLOSED_WON:
            return {
                "scheduled": "'Appointment scheduled' goes with Closed won: choose Closed won, "
                "or untick it."
            }
        if note is not None and note != SCHEDULED:
            return {
                "substatus": "Tick 'Appointment scheduled' or type a sub-status, not both: "
                "clear one of them."
            }
        note = SCHEDULED
    # The reason belongs to closed lost only; elsewhere the field is not part of the change.
    why = (reason.strip() or None) if chosen is LeadStage.CLOSED_LOST else None
    return chosen, note, why


@router.post("/leads/{patient_id}/stage", response_model=None)
def set_stage(
    request: Request,
    user: Staff,
    session: SessionDep,
    patient_id: PatientId,
    stage: Annotated[str, Form(max_length=20)] = "",
    substatus: Annotated[str, Form(max_length=100)] = "",
    scheduled: Annotated[str, Form(max_length=10)] = "",
    reason: Annotated[str, Form(max_length=200)] = "",
    q: Annotated[str, Form(max_length=lead_board.MAX_QUERY)] = "",
    show: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Move a lead; a refused change re-opens the form with the error next to its field."""
    view = _view(q, show)
    typed = {"stage": stage, "substatus": substatus, "reason": reason, "scheduled": scheduled}
    change = _stage_change(stage, substatus, bool(scheduled), reason)
    errors: dict[str, str] = {}
    if isinstance(change, dict):
        errors = change
    else:
        chosen, note, why = change
        try:
            leads.set_stage(
                session,
                user.org_id,
                patient_id,
                chosen,
                actor=user.actor,
                substatus=note,
                reason=why,
            )
        except ServiceError as err:
            if err.status == 404:
                raise
            field = "reason" if err.code == "invalid_lead_change" else FORM_ERROR
            errors = refusal(session, err, default_field=field).errors
    htmx = bool(request.headers.get("hx-request"))
    if errors:
        panel = _panel_context(session, user.org_id, patient_id, view, typed, errors)
        if not htmx:
            page_chrome(request, user)
            context = _board_context(session, user.org_id, view)
            return html(request, "leads.html", {"active": "leads", **context, **panel}, status=422)
        return html(
            request,
            "_leads_move.html",
            panel,
            status=422,
            headers={"HX-Retarget": "#move-panel", "HX-Reswap": "innerHTML"},
        )
    target = "/leads" + (f"?{_query_string(view)}" if _query_string(view) else "")
    if not htmx:
        return RedirectResponse(target, status_code=303)
    moved = _panel_context(session, user.org_id, patient_id, view)["move"]
    context = _board_context(session, user.org_id, view)
    return html(request, "_leads_board.html", {**context, "moved": moved})
