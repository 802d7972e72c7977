"""The connector page (the help article's eConnector): the link to the SMS provider, its
state, the pending texts and why, the errors to acknowledge, and Refresh.

Acknowledge and Refresh call the same services as ``POST /api/v1/connector/acknowledge``
and ``/refresh``. Refresh talks to the provider, so its route is async and holds no
transaction while it waits: the refresh service opens short transactions of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from clinictext.api.deps import SessionDep
from clinictext.services import connector, orgs, pending
from clinictext.services.clock import utcnow
from clinictext.services.refresh import refresh
from clinictext.web.access import Staff, StaffPage
from clinictext.web.render import html

router = APIRouter(include_in_schema=False)
T = TypeVar("T")

STATE_TONE = {"up": "tone-ok", "degraded": "tone-wait", "down": "tone-bad"}
STATE_WORD = {"up": "Up", "degraded": "Degraded", "down": "Down"}
STATE_MEANING = {
    "up": "Texts are reaching the SMS provider.",
    "degraded": (
        "Some recent attempts to reach the SMS provider failed. Texts that failed are "
        "retried by themselves."
    ),
    "down": (
        "The SMS provider cannot be reached. Texts wait and go out by themselves when it is "
        "back. If this lasts, check the provider credentials, then press Refresh."
    ),
}


def plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def refresh_summary(answered: bool, resent: int, checked: int, pending_now: int) -> str:
    """What a Refresh did, in words staff read.

    ``answered``: the provider answered the refresh's check; ``resent``: texts that were
    waiting for the provider and go out now; ``checked``: sent texts whose latest status
    the provider gave; ``pending_now``: texts still pending afterwards.
    """
    if not answered:
        if pending_now == 1:
            waiting = " The pending text waits and goes out by itself when it answers."
        elif pending_now:
            waiting = (
                f" The {pending_now} pending texts wait and go out by themselves when it answers."
            )
        else:
            waiting = ""
        return (
            "The SMS provider still cannot be reached, so nothing was re-sent."
            + waiting
            + " If this lasts, check the provider credentials."
        )
    said = (
        f"Re-sent {plural(resent, 'text')}." if resent else "No texts were waiting to be re-sent."
    )
    if checked:
        said += (
            f" Asked the provider about {plural(checked, 'text')} not yet confirmed as "
            "delivered; their statuses are up to date."
        )
    return said + " The SMS provider is answering."


def panel(session: Session, org_id: int, now: datetime) -> dict[str, Any]:
    """What the live part of the page shows."""
    status = connector.status(session, org_id, now)
    state = status.view.state.value
    return {
        "tz": orgs.get_org(session, org_id).timezone,
        "state": state,
        "state_word": STATE_WORD[state],
        "state_tone": STATE_TONE[state],
        "state_meaning": STATE_MEANING[state],
        "since": status.view.since,
        "last_success_at": status.view.last_success_at,
        "pending": pending.pending_by_diagnosis(session, org_id, now),
        "errors": status.errors,
        "open_errors": sum(1 for e in status.errors if e.acknowledged_at is None),
        "plural": plural,
    }


def _answer(
    request: Request, context: dict[str, Any], result: str, *, ok: bool = True
) -> HTMLResponse:
    """The result of an action: for htmx, the result line and the panel (out of band);
    without JavaScript, the whole page again."""
    values = {**context, "result": result, "result_ok": ok, "active": "connector"}
    if request.headers.get("hx-request"):
        return html(request, "_connector_page_result.html", values)
    return html(request, "connector.html", values)


@router.get("/connector", response_class=HTMLResponse)
def connector_page(request: Request, user: StaffPage, session: SessionDep) -> HTMLResponse:
    context = panel(session, user.org_id, utcnow())
    return html(request, "connector.html", {**context, "active": "connector", "result": None})


@router.get("/connector/panel", response_class=HTMLResponse)
def connector_panel(request: Request, user: Staff, session: SessionDep) -> HTMLResponse:
    """The live part alone, fetched again whenever the connector changes."""
    return html(request, "_connector_page_panel.html", panel(session, user.org_id, utcnow()))


@router.post("/connector/acknowledge", response_class=HTMLResponse)
def acknowledge(request: Request, user: StaffPage, session: SessionDep) -> HTMLResponse:
    now = utcnow()
    count = connector.acknowledge(session, user.org_id, user.actor, now)
    result = (
        f"Acknowledged {plural(count, 'error')}."
        if count
        else "There were no errors left to acknowledge."
    )
    return _answer(request, panel(session, user.org_id, now), result)


def _read(request: Request, fn: Callable[[Session], T]) -> T:
    with request.app.state.read_session_factory() as session, session.begin():
        return fn(session)


@router.post("/connector/refresh", response_class=HTMLResponse)
async def refresh_connector(request: Request, user: StaffPage) -> HTMLResponse:
    """Re-check the provider and re-drive every pending text (as the API's refresh does)."""
    state = request.app.state
    started = utcnow()
    outcome = await refresh(
        state.session_factory, state.provider, user.org_id, user.actor, state.retry_policy
    )
    last_success = outcome.status.view.last_success_at
    answered = last_success is not None and last_success >= started
    context = await run_in_threadpool(_read, request, lambda s: panel(s, user.org_id, utcnow()))
    result = refresh_summary(
        answered,
        outcome.redriven if answered else 0,
        outcome.checked,
        outcome.status.pending,
    )
    return _answer(request, context, result, ok=answered)
