"""The settings page (administrators only): the setup checklist, then one form a section.

Each section saves on its own through the same service as the API. This module holds the
page and what every section's form shares: its state, the answer with the section again, and
a service's refusal shown next to its field, with what was typed and nothing saved. The
sections' forms are answered by ``settings_org`` (the organization's settings),
``settings_numbers`` (sender numbers) and ``settings_access`` (users and API keys). With htmx
a section answers with itself and, out of band, the setup checklist; without JavaScript the
whole page is rendered again.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from clinictext.api.deps import SessionDep
from clinictext.api.schemas import BROKEN_TEXT, MAX_ID, has_broken_text
from clinictext.domain.checklist import Registration
from clinictext.domain.phones import display
from clinictext.domain.replies import DEFAULTS, REQUIRED, ReplyContext, render
from clinictext.domain.setup import ready
from clinictext.domain.staff import Role
from clinictext.services import numbers, orgs, setup, users
from clinictext.services.clock import utcnow
from clinictext.services.eligibility import manual_spend_micros, micros_to_usd
from clinictext.services.errors import ServiceError
from clinictext.services.web_sessions import SignedIn
from clinictext.store.models import Organization
from clinictext.web.access import AdminPage
from clinictext.web.forms import FORM_ERROR, refusal
from clinictext.web.render import html

router = APIRouter(include_in_schema=False)

FormText = Annotated[str, Form()]
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]

# Each section's template; its form posts to /settings/<name>.
SECTIONS = {
    "texting": "_settings_texting.html",
    "clinic": "_settings_clinic.html",
    "send-window": "_settings_send_window.html",
    "spend-limit": "_settings_spend_limit.html",
    "links": "_settings_links.html",
    "lead-automation": "_settings_lead_automation.html",
    "replies": "_settings_replies.html",
    "numbers": "_settings_numbers.html",
    "users": "_settings_users.html",
    "api-keys": "_settings_api_keys.html",
}

REGISTRATIONS = {
    Registration.NONE.value: "Not started",
    Registration.PENDING.value: "Waiting for carrier approval",
    Registration.APPROVED.value: "Approved",
    Registration.REJECTED.value: "Rejected",
}
NUMBER_KINDS = {
    "long_code": "Mobile-style number (long code)",
    "toll_free": "Toll-free number",
    "short_code": "Short code",
    "landline": "Text-enabled landline",
}
ROLES = {Role.STAFF.value: "Staff", Role.ADMIN.value: "Administrator"}
REPLY_LABELS = {
    "opt_out": ("Opt-out reply", "Sent once when a patient texts STOP."),
    "opt_in": ("Opt-in reply", "Sent when a patient who had opted out texts START."),
    "help": ("Help reply", "Sent when a patient texts HELP."),
    "lead_closed": (
        "Closed-lead reply",
        "Sent (at most once a day) when a patient whose lead is closed texts the lead number.",
    ),
}
TIMEZONES = sorted(
    zone
    for zone in zoneinfo.available_timezones()
    if "/" in zone and not zone.startswith(("Etc/", "SystemV/", "posix/", "right/"))
)


@dataclass
class FormState:
    """One form as shown: errors by field, the values typed, and what was saved."""

    errors: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    notice: str | None = None
    secret: str | None = None  # a new API key, shown this once

    def value(self, name: str, default: Any) -> Any:
        return self.values.get(name, default)


class Forms(dict[str, FormState]):
    """Every form of the page: the ones just submitted carry their state."""

    def __missing__(self, key: str) -> FormState:
        return FormState()


@dataclass(frozen=True)
class ReplyField:
    kind: str
    label: str
    hint: str
    required: tuple[str, ...]
    current: str
    preview: str


def _replies(org: Organization) -> list[ReplyField]:
    ctx = ReplyContext(org.name, org.clinic_phone)
    fields = []
    for kind, (label, hint) in REPLY_LABELS.items():
        current = getattr(org, f"reply_{kind}") or DEFAULTS[kind]
        fields.append(
            ReplyField(kind, label, hint, REQUIRED[kind], current, render(kind, current, ctx))
        )
    return fields


def page_context(session: Session, org_id: int, me: int, forms: Forms) -> dict[str, Any]:
    now = utcnow()
    org = orgs.get_org(session, org_id)
    checklist = setup.setup_checklist(session, org_id, now)
    limit = org.manual_spend_limit_cents
    return {
        "active": "settings",
        "org": org,
        "forms": forms,
        "checklist": checklist,
        "ready": ready(checklist),
        "spend_usd": micros_to_usd(manual_spend_micros(session, org, now)),
        "limit_usd": None if limit is None else Decimal(limit) / 100,
        "segment_usd": micros_to_usd(org.segment_price_micros),
        "numbers": numbers.list_numbers(session, org_id),
        "users": users.list_users(session, org_id),
        "api_keys": setup.list_api_keys(session, org_id),
        "replies": _replies(org),
        "registrations": REGISTRATIONS,
        "number_kinds": NUMBER_KINDS,
        "roles": ROLES,
        "timezones": TIMEZONES,
        "me": me,
        "phone": display,
        "tz": org.timezone,
    }


# --- what every section's form shares -------------------------------------------------------


def answer(
    request: Request,
    session: Session,
    user: SignedIn,
    section: str,
    form: str,
    state: FormState,
    status: int = 200,
) -> HTMLResponse:
    """The section again (htmx) or the whole page, showing ``state`` in form ``form``."""
    forms = Forms({form: state})
    context = page_context(session, user.org_id, user.user_id, forms)
    if request.headers.get("hx-request"):
        values = {**context, "section": SECTIONS[section]}
        return html(request, "_settings_fragment.html", values, status=status)
    return html(request, "settings.html", context, status=status)


def refused(
    request: Request,
    session: Session,
    user: SignedIn,
    section: str,
    errors: dict[str, str],
    values: dict[str, str],
    *,
    form: str | None = None,
    status: int = 422,
) -> HTMLResponse:
    """The form again with ``errors`` next to their fields and what was typed."""
    state = FormState(errors=errors, values=values)
    return answer(request, session, user, section, form or section, state, status)


def service_refused(
    request: Request,
    session: Session,
    user: SignedIn,
    section: str,
    err: ServiceError,
    values: dict[str, str],
    *,
    form: str | None = None,
    default_field: str = FORM_ERROR,
    fields: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Undo what the request wrote and show the service's refusal next to its field.

    ``fields`` maps the service's name of a field to the form's, where they differ.
    """
    said = refusal(session, err, default_field)
    errors = {(fields or {}).get(name, name): message for name, message in said.errors.items()}
    return refused(request, session, user, section, errors, values, form=form, status=said.status)


def broken(values: dict[str, str]) -> dict[str, str]:
    """Fields holding text no database can store, with the reason."""
    return {
        name: f"This {BROKEN_TEXT}." for name, value in values.items() if has_broken_text(value)
    }


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, user: AdminPage, session: SessionDep) -> HTMLResponse:
    return html(request, "settings.html", page_context(session, user.org_id, user.user_id, Forms()))
