"""The inbox page."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from clinictext.web.access import StaffPage
from clinictext.web.render import html

router = APIRouter(include_in_schema=False)


@router.get("/inbox", response_class=HTMLResponse)
def inbox(request: Request, user: StaffPage) -> HTMLResponse:
    return html(request, "inbox.html", {"active": "inbox"})
