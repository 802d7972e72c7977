"""The settings page's organization settings: texting, the clinic, the send window, the spend
limit, links and the reply texts, each saved with ``update_org`` as the API saves them.

The service checks every value and names the field a refusal is about; the page only reads
what was typed (a checkbox, a dollar amount, an emptied reply) and shows a refusal next to
its field.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from clinictext.api.deps import SessionDep
from clinictext.domain.replies import DEFAULTS
from clinictext.services import orgs
from clinictext.services.errors import ServiceError
from clinictext.services.web_sessions import SignedIn
from clinictext.store.models import Organization
from clinictext.web.access import AdminPage
from clinictext.web.pages.settings import (
    REGISTRATIONS,
    REPLY_LABELS,
    FormState,
    FormText,
    answer,
    refused,
    service_refused,
)

router = APIRouter(include_in_schema=False)

# The form field that shows ``update_org``'s refusal of a field, where the names differ.
ORG_FIELDS = {
    "send_window.start": "start",
    "send_window.end": "end",
    **{f"replies.{kind}": kind for kind in REPLY_LABELS},
    "lead_inactivity_days": "inactivity_days",
}
MAX_SPEND_USD = Decimal(1_000_000)


def _save_org(
    request: Request,
    session: Session,
    user: SignedIn,
    section: str,
    changes: dict[str, Any],
    values: dict[str, str],
    notice: Callable[[Organization], str],
) -> HTMLResponse:
    """Apply ``changes`` with ``update_org``; a refusal rolls back and shows where it was.

    ``notice`` says what was saved, from the organization as saved.
    """
    try:
        org = orgs.update_org(session, user.org_id, changes, user.actor)
    except ServiceError as err:
        return service_refused(request, session, user, section, err, values, fields=ORG_FIELDS)
    state = FormState(notice=notice(org))
    return answer(request, session, user, section, section, state)


@router.post("/settings/texting", response_class=HTMLResponse)
def save_texting(
    request: Request,
    user: AdminPage,
    session: SessionDep,
    sms_enabled: FormText = "",
    messaging_registration: FormText = "",
) -> HTMLResponse:
    values = {"sms_enabled": sms_enabled, "messaging_registration": messaging_registration}
    changes = {"sms_enabled": bool(sms_enabled), "messaging_registration": messaging_registration}
    return _save_org(
        request,
        session,
        user,
        "texting",
        changes,
        values,
        lambda org: (
            f"Saved. Texting is {'enabled' if org.sms_enabled else 'disabled'}; carrier "
            f"registration: {REGISTRATIONS.get(org.messaging_registration, 'unknown').lower()}."
        ),
    )


@router.post("/settings/clinic", response_class=HTMLResponse)
def save_clinic(
    request: Request,
    user: AdminPage,
    session: SessionDep,
    clinic_phone: FormText = "",
    timezone: FormText = "",
) -> HTMLResponse:
    values = {"clinic_phone": clinic_phone, "timezone": timezone}
    changes = {"clinic_phone": clinic_phone.strip() or None, "timezone": timezone.strip()}
    return _save_org(
        request,
        session,
        user,
        "clinic",
        changes,
        values,
        lambda org: (
            "Saved. Clinic phone and time zone saved."
            if org.clinic_phone
            else "Saved. The clinic phone is removed."
        ),
    )


@router.post("/settings/send-window", response_class=HTMLResponse)
def save_send_window(
    request: Request,
    user: AdminPage,
    session: SessionDep,
    start: FormText = "",
    end: FormText = "",
) -> HTMLResponse:
    values = {"start": start, "end": end}
    changes = {"send_window": {"start": start, "end": end}}
    return _save_org(
        request,
        session,
        user,
        "send-window",
        changes,
        values,
        lambda org: (
            f"Saved. Automated texts go out between {org.send_window_start} and "
            f"{org.send_window_end}, the patient's time."
        ),
    )


def parse_usd(raw: str) -> Decimal | str | None:
    """A dollar amount typed by a person (``$1,250.50``); None when empty, or why not."""
    text = raw.strip().removeprefix("$").replace(",", "").strip()
    if not text:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return "Enter an amount in dollars, e.g. 50 or 49.99, or leave it empty for no limit."
    if not amount.is_finite() or amount < 0:
        return "Enter an amount of zero or more, e.g. 50, or leave it empty for no limit."
    if amount > MAX_SPEND_USD:
        return "Enter at most $1,000,000, or leave it empty for no limit."
    if amount != amount.quantize(Decimal("0.01")):
        return "Enter the amount in dollars and cents, with at most two decimals, e.g. 49.99."
    return amount


@router.post("/settings/spend-limit", response_class=HTMLResponse)
def save_spend_limit(
    request: Request, user: AdminPage, session: SessionDep, limit: FormText = ""
) -> HTMLResponse:
    values = {"limit": limit}
    amount = parse_usd(limit[:40])
    if isinstance(amount, str):
        return refused(request, session, user, "spend-limit", {"limit": amount}, values)
    notice = (
        "Saved. Manual texts have no monthly limit."
        if amount is None
        else f"Saved. Manual texts stop once they cost ${amount:,.2f} in a month."
    )
    cents = None if amount is None else int(amount * 100)
    changes = {"manual_spend_limit_cents": cents}
    return _save_org(request, session, user, "spend-limit", changes, values, lambda _: notice)


@router.post("/settings/links", response_class=HTMLResponse)
def save_links(
    request: Request, user: AdminPage, session: SessionDep, url_policy: FormText = ""
) -> HTMLResponse:
    return _save_org(
        request,
        session,
        user,
        "links",
        {"url_policy": url_policy},
        {"url_policy": url_policy},
        lambda org: (
            "Saved. Texts typed by staff cannot contain links."
            if org.url_policy == "block"
            else "Saved. Staff are warned about links in the texts they type."
        ),
    )


@router.post("/settings/lead-automation", response_class=HTMLResponse)
def save_lead_automation(
    request: Request,
    user: AdminPage,
    session: SessionDep,
    close_on_booking: FormText = "",
    inactivity_days: FormText = "",
) -> HTMLResponse:
    values = {"close_on_booking": close_on_booking, "inactivity_days": inactivity_days}
    typed = inactivity_days.strip()[:12]
    if typed and not typed.isdecimal():
        errors = {"inactivity_days": "Enter a whole number of days, e.g. 30, or leave it empty."}
        return refused(request, session, user, "lead-automation", errors, values)
    changes = {
        "lead_close_on_booking": bool(close_on_booking),
        "lead_inactivity_days": int(typed) if typed else None,
    }

    def notice(org: Organization) -> str:
        booking = (
            "Booking an appointment closes the patient's lead as won."
            if org.lead_close_on_booking
            else "Booking an appointment leaves the lead as it is."
        )
        days = org.lead_inactivity_days
        silence = (
            f"Leads with no reply for {days} days are closed as lost."
            if days
            else "Leads stay open however long they are silent."
        )
        return f"Saved. {booking} {silence}"

    return _save_org(request, session, user, "lead-automation", changes, values, notice)


@router.post("/settings/replies", response_class=HTMLResponse)
def save_replies(
    request: Request,
    user: AdminPage,
    session: SessionDep,
    opt_out: FormText = "",
    opt_in: FormText = "",
    help: FormText = "",
    lead_closed: FormText = "",
) -> HTMLResponse:
    values = {"opt_out": opt_out, "opt_in": opt_in, "help": help, "lead_closed": lead_closed}
    replies: dict[str, str | None] = {}
    for kind, raw in values.items():
        text = raw.strip().replace("\r\n", "\n")
        # An emptied text, or the standard wording itself, is saved as the standard wording.
        replies[kind] = None if not text or text == DEFAULTS[kind] else text
    return _save_org(
        request,
        session,
        user,
        "replies",
        {"replies": replies},
        values,
        lambda _: "Saved. Patients receive the replies as shown below each text.",
    )
