"""The inbox, ``/inbox``: conversations by last activity, unread first-class, with filters
(unread, needs review, unknown senders, failed texts, mine), Mark read and assignment.

The filter and the number of rows shown live in the URL, so the list refreshes itself on
``sse:inbox`` and after every action without losing the view. Actions post ordinary forms
(with htmx they swap the list in place; without it they come back to the same view).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from clinictext.api.deps import SessionDep
from clinictext.services import conversations, orgs, patients
from clinictext.services.conversations import FILTER_NAMES, InboxFilter, read_filter
from clinictext.services.errors import ServiceError
from clinictext.services.web_sessions import SignedIn
from clinictext.web.access import Staff, StaffPage, page_chrome
from clinictext.web.forms import FORM_ERROR, refusal
from clinictext.web.render import html

router = APIRouter(include_in_schema=False)

PAGE = 50
PatientId = Annotated[int, Path(ge=1, le=2**62)]
# Any positive number is read as whole pages up to the maximum (a link may outlive it).
Shown = Annotated[int, Query(ge=1, le=2**31)]

# What an empty list says, per filter.
EMPTY = {
    InboxFilter.ALL: "No conversations yet. Texts from and to patients will appear here.",
    InboxFilter.UNREAD: "Nothing unread. Every text from a patient has been read.",
    InboxFilter.REVIEW: "No texts wait for review. A reply that may ask to stop texting "
    "(in plain words, not STOP) would appear here.",
    InboxFilter.UNKNOWN: "No texts from unknown numbers.",
    InboxFilter.FAILED: "No conversation whose last text failed.",
    InboxFilter.MINE: "No conversations are assigned to you.",
}


def _limit(raw: int) -> int:
    """Rows shown: whole pages of ``PAGE``, at most ``MAX_PAGE``."""
    pages = max(1, -(-raw // PAGE))
    return min(pages * PAGE, conversations.MAX_PAGE)


def _view_query(chosen: InboxFilter, limit: int) -> str:
    params: dict[str, str | int] = {}
    if chosen is not InboxFilter.ALL:
        params["filter"] = chosen.value
    if limit != PAGE:
        params["limit"] = limit
    return urlencode(params)


def _list_context(
    session: Session,
    user: SignedIn,
    chosen: InboxFilter,
    limit: int,
    errors: dict[int, dict[str, str]] | None = None,
) -> dict[str, object]:
    page = conversations.inbox(
        session, user.org_id, chosen=chosen, user_id=user.user_id, limit=limit
    )
    more_limit = min(limit + PAGE, conversations.MAX_PAGE)
    return {
        "page": page,
        "chosen": chosen,
        "limit": limit,
        "view_query": _view_query(chosen, limit),
        "more_query": (
            _view_query(chosen, more_limit)
            if page.next_cursor and limit < conversations.MAX_PAGE
            else None
        ),
        "at_most": page.next_cursor is not None and limit >= conversations.MAX_PAGE,
        "staff_users": conversations.staff_users(session, user.org_id),
        "timezone": orgs.get_org(session, user.org_id).timezone,
        "empty": EMPTY[chosen],
        "errors": errors or {},
    }


@router.get("/inbox", response_class=HTMLResponse)
def inbox(
    request: Request,
    user: StaffPage,
    session: SessionDep,
    filter: str = "",
    limit: Shown = PAGE,
) -> HTMLResponse:
    chosen = read_filter(filter)
    context = _list_context(session, user, chosen, _limit(limit))
    return html(request, "inbox.html", {"active": "inbox", "filters": FILTER_NAMES, **context})


@router.get("/inbox/list", response_class=HTMLResponse)
def inbox_list(
    request: Request,
    user: Staff,
    session: SessionDep,
    filter: str = "",
    limit: Shown = PAGE,
) -> HTMLResponse:
    """The list alone: its live refresh and "Load more"."""
    context = _list_context(session, user, read_filter(filter), _limit(limit))
    return html(request, "_inbox_list.html", context)


def _after_action(
    request: Request,
    session: Session,
    user: SignedIn,
    chosen: InboxFilter,
    limit: int,
    errors: dict[int, dict[str, str]] | None = None,
) -> Response:
    """The list again (htmx), or the same view of the page (a plain form post)."""
    status = 422 if errors else 200
    if request.headers.get("hx-request"):
        context = _list_context(session, user, chosen, limit, errors)
        return html(request, "_inbox_list.html", context, status=status)
    if errors:
        page_chrome(request, user)
        context = _list_context(session, user, chosen, limit, errors)
        return html(
            request,
            "inbox.html",
            {"active": "inbox", "filters": FILTER_NAMES, **context},
            status=status,
        )
    query = _view_query(chosen, limit)
    return RedirectResponse("/inbox" + (f"?{query}" if query else ""), status_code=303)


ViewFilter = Annotated[str, Form(max_length=20)]
ViewLimit = Annotated[int, Form(ge=1, le=2**31)]


@router.post("/inbox/{patient_id}/read", response_model=None)
def mark_read(
    request: Request,
    user: Staff,
    session: SessionDep,
    patient_id: PatientId,
    filter: ViewFilter = "",
    limit: ViewLimit = PAGE,
) -> Response:
    patients.mark_read(session, user.org_id, patient_id)
    return _after_action(request, session, user, read_filter(filter), _limit(limit))


@router.post("/inbox/{patient_id}/assign", response_model=None)
def assign(
    request: Request,
    user: Staff,
    session: SessionDep,
    patient_id: PatientId,
    user_id: Annotated[str, Form(max_length=20)] = "",
    filter: ViewFilter = "",
    limit: ViewLimit = PAGE,
) -> Response:
    """Give the conversation to the chosen user; "Nobody" takes it back from whoever had it."""
    errors: dict[int, dict[str, str]] = {}
    if user_id and not user_id.isdecimal():
        errors[patient_id] = {"user_id": "Choose someone from the list."}
    else:
        try:
            conversations.assign(
                session, user.org_id, patient_id, int(user_id) if user_id else None, user.actor
            )
        except ServiceError as err:
            if err.status == 404:
                raise
            errors[patient_id] = refusal(session, err, default_field=FORM_ERROR).errors
    return _after_action(request, session, user, read_filter(filter), _limit(limit), errors)


@router.post("/inbox/{patient_id}/unassign", response_model=None)
def unassign(
    request: Request,
    user: Staff,
    session: SessionDep,
    patient_id: PatientId,
    filter: ViewFilter = "",
    limit: ViewLimit = PAGE,
) -> Response:
    conversations.assign(session, user.org_id, patient_id, None, user.actor)
    return _after_action(request, session, user, read_filter(filter), _limit(limit))
