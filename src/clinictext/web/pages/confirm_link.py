"""The page a patient opens from a ``[ConfirmURL]`` link: which appointment, and a button to
confirm it. Public (no sign-in); the service decides what the code names."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from clinictext.api.deps import SessionDep
from clinictext.services import confirm_link
from clinictext.services.clock import utcnow
from clinictext.web.render import html

router = APIRouter(include_in_schema=False)

OrgId = Annotated[int, Path(ge=1, le=2**62)]
Code = Annotated[str, Path(max_length=40)]


def _answer(
    request: Request,
    found: confirm_link.LinkedAppointment | confirm_link.NoAppointment,
    *,
    just_confirmed: bool = False,
) -> HTMLResponse:
    missing = isinstance(found, confirm_link.NoAppointment)
    return html(
        request,
        "confirm_link.html",
        {"found": found, "missing": missing, "just_confirmed": just_confirmed},
        status=404 if missing else 200,
    )


@router.get("/confirm/{org_id}/{code}", response_class=HTMLResponse)
def confirm_page(
    request: Request, org_id: OrgId, code: Code, session: SessionDep, done: str = ""
) -> HTMLResponse:
    found = confirm_link.find(session, org_id, code, utcnow())
    return _answer(request, found, just_confirmed=done == "1")


@router.post("/confirm/{org_id}/{code}", response_class=HTMLResponse, response_model=None)
def confirm_appointment(
    request: Request, org_id: OrgId, code: Code, session: SessionDep
) -> HTMLResponse | RedirectResponse:
    """Confirm, then show the page again by GET, so reloading it confirms nothing twice."""
    found = confirm_link.confirm(session, org_id, code, utcnow())
    if isinstance(found, confirm_link.NoAppointment):
        return _answer(request, found)
    return RedirectResponse(f"{request.url.path}?done=1", status_code=303)
