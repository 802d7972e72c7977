"""The settings page's Numbers section: add a sender number, ask whether one is confirmed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from clinictext.api.deps import SessionDep
from clinictext.domain.checklist import Channel
from clinictext.domain.phones import display
from clinictext.services import numbers
from clinictext.services.clock import utcnow
from clinictext.services.errors import ServiceError
from clinictext.services.verification import check_verifications
from clinictext.web.access import AdminPage
from clinictext.web.pages.settings import (
    FormState,
    FormText,
    RowId,
    answer,
    broken,
    refused,
    service_refused,
)

router = APIRouter(include_in_schema=False)

T = TypeVar("T")


@router.post("/settings/numbers", response_class=HTMLResponse)
def add_number(
    request: Request,
    user: AdminPage,
    session: SessionDep,
    number: FormText = "",
    purpose: FormText = "",
    kind: FormText = "",
    mps: FormText = "1",
) -> HTMLResponse:
    values = {"number": number, "purpose": purpose, "kind": kind, "mps": mps}
    errors = broken({"number": number})
    if not number.strip() and "number" not in errors:
        errors["number"] = "Enter the number to text from, e.g. (415) 555-0100."
    if purpose not in {c.value for c in Channel}:
        errors["purpose"] = "Choose what the number is for: Lead or Clinic."
    # A rate that is not a whole number reads as 0, which the service refuses with its range.
    rate = int(mps.strip()[:5]) if mps.strip().isdecimal() and mps.strip().isascii() else 0
    if errors:
        return refused(request, session, user, "numbers", errors, values, form="add-number")
    try:
        row = numbers.add_number(
            session, user.org_id, number[:40], Channel(purpose), kind, rate, user.actor
        )
    except ServiceError as err:
        return service_refused(
            request,
            session,
            user,
            "numbers",
            err,
            values,
            form="add-number",
            default_field="number",
        )
    state = (
        "It is waiting for the provider to confirm it; texts cannot go out from it until then."
        if row.verification == "pending"
        else "It can send texts now."
    )
    notice = f"Added {display(row.number)}. {state}"
    return answer(request, session, user, "numbers", "add-number", FormState(notice=notice))


def _read(request: Request, fn: Callable[[Session], T]) -> T:
    with request.app.state.read_session_factory() as session, session.begin():
        return fn(session)


@router.post("/settings/numbers/{number_id}/check", response_class=HTMLResponse)
async def check_number(request: Request, user: AdminPage, number_id: RowId) -> HTMLResponse:
    """Ask the provider again whether the organization's pending numbers are confirmed."""
    state = request.app.state
    await run_in_threadpool(_read, request, lambda s: numbers.get_number(s, user.org_id, number_id))
    await check_verifications(
        state.session_factory, state.provider, utcnow(), timedelta(0), user.org_id
    )

    def said(session: Session) -> HTMLResponse:
        row = numbers.get_number(session, user.org_id, number_id)
        how = {
            "verified": "is confirmed: it can send texts now.",
            "pending": (
                "is still waiting for the provider's confirmation (this can take a few business "
                "days). Texts cannot go out from it yet."
            ),
            "failed": "could not be verified by the provider. Add another number, or contact "
            "support.",
        }.get(row.verification, "was checked.")
        notice = f"{display(row.number)} {how}"
        return answer(
            request, session, user, "numbers", f"number-{number_id}", FormState(notice=notice)
        )

    response: HTMLResponse = await run_in_threadpool(_read, request, said)
    return response
