"""The settings page (administrators only): the setup checklist, then one form a section.

Each section saves on its own through the same service as the API (``update_org`` for the
organization's settings, ``numbers``, ``users``, ``orgs`` for API keys). A refused form
comes back with the error next to its field and what was typed, and nothing is saved: the
values are checked first, with the API's rules, and a refusal from the service rolls back.
With htmx a section answers with itself and, out of band, the setup checklist; without
JavaScript the whole page is rendered again.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from clinictext.api.deps import SessionDep
from clinictext.api.schemas import BROKEN_TEXT, MAX_ID, has_broken_text
from clinictext.domain.checklist import Channel, Registration
from clinictext.domain.phones import PhoneError, display, normalize_e164
from clinictext.domain.replies import (
    DEFAULTS,
    REQUIRED,
    ReplyContext,
    ReplyRefused,
    check_template,
    render,
)
from clinictext.domain.send_window import is_clock_time
from clinictext.domain.setup import ready
from clinictext.domain.staff import Role
from clinictext.services import numbers, orgs, setup, users
from clinictext.services.clock import utcnow
from clinictext.services.eligibility import manual_spend_micros, micros_to_usd
from clinictext.services.errors import Invalid, ServiceError
from clinictext.services.verification import check_verifications
from clinictext.store.models import Organization
from clinictext.web.access import AdminPage
from clinictext.web.forms import FORM_ERROR, refusal
from clinictext.web.render import html

router = APIRouter(include_in_schema=False)

FormText = Annotated[str, Form()]
NumberId = Annotated[int, Path(ge=1, le=MAX_ID)]

# Each section's template; its form posts to /settings/<name>.
SECTIONS = {
    "texting": "_settings_texting.html",
    "clinic": "_settings_clinic.html",
    "send-window": "_settings_send_window.html",
    "spend-limit": "_settings_spend_limit.html",
    "links": "_settings_links.html",
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
URL_POLICIES = ("warn", "block")
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
# A service's refusal of an organization setting, by code: the field it belongs to.
ORG_ERROR_FIELD = {
    "invalid_phone": "clinic_phone",
    "invalid_timezone": "timezone",
    "invalid_time": "start",
    "invalid_send_window": "end",
}
MAX_SPEND_USD = Decimal(1_000_000)
MAX_REPLY = 320
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


def _answer(
    request: Request,
    session: Session,
    user: Any,
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


def _refused(
    request: Request,
    session: Session,
    user: Any,
    section: str,
    errors: dict[str, str],
    values: dict[str, str],
    *,
    form: str | None = None,
    status: int = 422,
) -> HTMLResponse:
    state = FormState(errors=errors, values=values)
    return _answer(request, session, user, section, form or section, state, status)


def _broken(values: dict[str, str]) -> dict[str, str]:
    return {
        name: f"This {BROKEN_TEXT}." for name, value in values.items() if has_broken_text(value)
    }


def _save_org(
    request: Request,
    session: Session,
    user: Any,
    section: str,
    changes: dict[str, Any],
    values: dict[str, str],
    notice: str,
    default_field: str = FORM_ERROR,
) -> HTMLResponse:
    """Apply ``changes`` with ``update_org``; a refusal rolls back and shows where it was."""
    try:
        orgs.update_org(session, user.org_id, changes, user.actor)
    except ServiceError as err:
        refused = refusal(session, err, ORG_ERROR_FIELD.get(err.code, default_field))
        return _refused(
            request, session, user, section, refused.errors, values, status=refused.status
        )
    return _answer(request, session, user, section, section, FormState(notice=notice))


@router.get("/settings", response_class=HTMLResponse)
def settings_page(request: Request, user: AdminPage, session: SessionDep) -> HTMLResponse:
    return html(request, "settings.html", page_context(session, user.org_id, user.user_id, Forms()))


# --- the organization's settings ---------------------------------------------------------


@router.post("/settings/texting", response_class=HTMLResponse)
def save_texting(
    request: Request,
    user: AdminPage,
    session: SessionDep,
    sms_enabled: FormText = "",
    messaging_registration: FormText = "",
) -> HTMLResponse:
    values = {"sms_enabled": sms_enabled, "messaging_registration": messaging_registration}
    if messaging_registration not in REGISTRATIONS:
        errors = {"messaging_registration": "Choose the registration's state from the list."}
        return _refused(request, session, user, "texting", errors, values)
    enabled = bool(sms_enabled)
    notice = (
        f"Saved. Texting is {'enabled' if enabled else 'disabled'}; carrier registration: "
        f"{REGISTRATIONS[messaging_registration].lower()}."
    )
    changes = {"sms_enabled": enabled, "messaging_registration": messaging_registration}
    return _save_org(request, session, user, "texting", changes, values, notice)


@router.post("/settings/clinic", response_class=HTMLResponse)
def save_clinic(
    request: Request,
    user: AdminPage,
    session: SessionDep,
    clinic_phone: FormText = "",
    timezone: FormText = "",
) -> HTMLResponse:
    values = {"clinic_phone": clinic_phone, "timezone": timezone}
    errors = _broken(values)
    phone, zone = clinic_phone.strip(), timezone.strip()
    org = orgs.get_org(session, user.org_id)
    if "clinic_phone" not in errors and phone:
        try:
            normalize_e164(phone[:40], org.country)
        except PhoneError as err:
            errors["clinic_phone"] = f"{err} Enter the number patients call, e.g. (415) 555-0100."
    if "timezone" not in errors:
        try:
            orgs.validate_timezone(zone[:64] if zone else "")
        except Invalid:
            errors["timezone"] = (
                "Choose a time zone from the list, as Region/City, e.g. America/New_York."
            )
    if errors:
        return _refused(request, session, user, "clinic", errors, values)
    notice = "Saved. " + (
        "The clinic phone is removed." if not phone else "Clinic phone and time zone saved."
    )
    changes = {"clinic_phone": phone or None, "timezone": zone}
    return _save_org(request, session, user, "clinic", changes, values, notice)


@router.post("/settings/send-window", response_class=HTMLResponse)
def save_send_window(
    request: Request,
    user: AdminPage,
    session: SessionDep,
    start: FormText = "",
    end: FormText = "",
) -> HTMLResponse:
    values = {"start": start, "end": end}
    errors = {}
    if not is_clock_time(start):
        errors["start"] = "Enter the start as a 24-hour time, e.g. 08:00."
    if not is_clock_time(end):
        errors["end"] = "Enter the end as a 24-hour time, e.g. 21:00."
    if not errors and start >= end:
        errors["end"] = (
            f"The window must end after it starts, on the same day: {start} to {end} does "
            "not. For example 08:00 to 21:00."
        )
    if errors:
        return _refused(request, session, user, "send-window", errors, values)
    notice = f"Saved. Automated texts go out between {start} and {end}, the patient's time."
    changes = {"send_window": {"start": start, "end": end}}
    return _save_org(request, session, user, "send-window", changes, values, notice, "start")


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
        return _refused(request, session, user, "spend-limit", {"limit": amount}, values)
    notice = (
        "Saved. Manual texts have no monthly limit."
        if amount is None
        else f"Saved. Manual texts stop once they cost ${amount:,.2f} in a month."
    )
    cents = None if amount is None else int(amount * 100)
    changes = {"manual_spend_limit_cents": cents}
    return _save_org(request, session, user, "spend-limit", changes, values, notice, "limit")


@router.post("/settings/links", response_class=HTMLResponse)
def save_links(
    request: Request, user: AdminPage, session: SessionDep, url_policy: FormText = ""
) -> HTMLResponse:
    values = {"url_policy": url_policy}
    if url_policy not in URL_POLICIES:
        errors = {"url_policy": "Choose whether links are only warned about or blocked."}
        return _refused(request, session, user, "links", errors, values)
    notice = (
        "Saved. Staff are warned about links in the texts they type."
        if url_policy == "warn"
        else "Saved. Texts typed by staff cannot contain links."
    )
    changes = {"url_policy": url_policy}
    return _save_org(request, session, user, "links", changes, values, notice, "url_policy")


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
    errors = _broken(values)
    replies: dict[str, str | None] = {}
    for kind, raw in values.items():
        text = raw.strip().replace("\r\n", "\n")
        if kind in errors:
            continue
        if not text or text == DEFAULTS[kind]:
            replies[kind] = None  # the standard wording
            continue
        if len(text) > MAX_REPLY:
            errors[kind] = f"Keep it to {MAX_REPLY} characters or fewer (now {len(text)})."
            continue
        try:
            replies[kind] = check_template(kind, text)
        except ReplyRefused as err:
            errors[kind] = f"{err} Carriers require it; put it back and save again."
    if errors:
        return _refused(request, session, user, "replies", errors, values)
    notice = "Saved. Patients receive the replies as shown below each text."
    return _save_org(request, session, user, "replies", {"replies": replies}, values, notice)


# --- sender numbers ----------------------------------------------------------------------


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
    errors = _broken({"number": number})
    if not number.strip() and "number" not in errors:
        errors["number"] = "Enter the number to text from, e.g. (415) 555-0100."
    if purpose not in {c.value for c in Channel}:
        errors["purpose"] = "Choose what the number is for: Lead or Clinic."
    if kind not in NUMBER_KINDS:
        errors["kind"] = "Choose the kind of number from the list."
    rate = int(mps) if mps.strip().isdigit() and mps.strip().isascii() else 0
    if not 1 <= rate <= 1000:
        errors["mps"] = "Enter how many text segments a second the carrier allows, 1 to 1000."
    if errors:
        return _refused(request, session, user, "numbers", errors, values, form="add-number")
    try:
        row = numbers.add_number(
            session, user.org_id, number[:40], Channel(purpose), kind, rate, user.actor
        )
    except ServiceError as err:
        refused = refusal(session, err, "number")
        return _refused(
            request,
            session,
            user,
            "numbers",
            refused.errors,
            values,
            form="add-number",
            status=refused.status,
        )
    state = (
        "It is waiting for the provider to confirm it; texts cannot go out from it until then."
        if row.verification == "pending"
        else "It can send texts now."
    )
    notice = f"Added {display(row.number)}. {state}"
    return _answer(request, session, user, "numbers", "add-number", FormState(notice=notice))


def _read(request: Request, fn: Any) -> Any:
    with request.app.state.read_session_factory() as session, session.begin():
        return fn(session)


@router.post("/settings/numbers/{number_id}/check", response_class=HTMLResponse)
async def check_number(request: Request, user: AdminPage, number_id: NumberId) -> HTMLResponse:
    """Ask the provider again whether the organization's pending numbers are confirmed."""
    state = request.app.state
    await run_in_threadpool(_read, request, lambda s: numbers.get_number(s, user.org_id, number_id))
    await check_verifications(
        state.session_factory, state.provider, utcnow(), timedelta(0), user.org_id
    )

    def answer(session: Session) -> HTMLResponse:
        row = numbers.get_number(session, user.org_id, number_id)
        said = {
            "verified": "is confirmed: it can send texts now.",
            "pending": (
                "is still waiting for the provider's confirmation (this can take a few business "
                "days). Texts cannot go out from it yet."
            ),
            "failed": "could not be verified by the provider. Add another number, or contact "
            "support.",
        }.get(row.verification, "was checked.")
        notice = f"{display(row.number)} {said}"
        return _answer(
            request, session, user, "numbers", f"number-{number_id}", FormState(notice=notice)
        )

    response: HTMLResponse = await run_in_threadpool(_read, request, answer)
    return response


# --- users -------------------------------------------------------------------------------


@router.post("/settings/users", response_class=HTMLResponse)
def add_user(
    request: Request,
    user: AdminPage,
    session: SessionDep,
    email: FormText = "",
    role: FormText = "",
    password: FormText = "",
) -> HTMLResponse:
    values = {"email": email, "role": role}  # a password is never sent back
    errors = _broken({"email": email, "password": password})
    if errors:
        return _refused(request, session, user, "users", errors, values, form="add-user")
    try:
        created = users.create_user(session, user.org_id, email[:300], role, password, user.actor)
    except ServiceError as err:
        refused = refusal(session, err, "email")
        return _refused(
            request,
            session,
            user,
            "users",
            refused.errors,
            values,
            form="add-user",
            status=refused.status,
        )
    notice = (
        f"Added {created.email} as {ROLES[created.role].lower()}. Give them the initial "
        "password in person or by phone, not by email."
    )
    return _answer(request, session, user, "users", "add-user", FormState(notice=notice))


def _user_action(
    request: Request, session: Session, user: Any, user_id: int, action: Any, done: str
) -> HTMLResponse:
    target = users.get_user(session, user.org_id, user_id)
    form = f"user-{user_id}"
    try:
        action(target)
    except ServiceError as err:
        refused = refusal(session, err)
        return _refused(
            request, session, user, "users", refused.errors, {}, form=form, status=refused.status
        )
    notice = done.format(email=target.email)
    return _answer(request, session, user, "users", form, FormState(notice=notice))


def _not_yourself(user: Any, user_id: int, message: str) -> None:
    if user_id == user.user_id:
        raise Invalid(message, code="own_account")


@router.post("/settings/users/{user_id}/disable", response_class=HTMLResponse)
def disable_user(
    request: Request, user: AdminPage, session: SessionDep, user_id: NumberId
) -> HTMLResponse:
    def act(target: Any) -> None:
        _not_yourself(
            user,
            user_id,
            "You cannot disable your own account. Ask another administrator to do it.",
        )
        users.disable_user(session, target, user.actor, utcnow())

    done = "Disabled {email}: they are signed out and cannot sign in until enabled again."
    return _user_action(request, session, user, user_id, act, done)


@router.post("/settings/users/{user_id}/enable", response_class=HTMLResponse)
def enable_user(
    request: Request, user: AdminPage, session: SessionDep, user_id: NumberId
) -> HTMLResponse:
    def act(target: Any) -> None:
        users.enable_user(session, target, user.actor)

    return _user_action(request, session, user, user_id, act, "Enabled {email}: they can sign in.")


@router.post("/settings/users/{user_id}/role", response_class=HTMLResponse)
def change_role(
    request: Request,
    user: AdminPage,
    session: SessionDep,
    user_id: NumberId,
    role: FormText = "",
) -> HTMLResponse:
    def act(target: Any) -> None:
        if role != target.role:
            _not_yourself(
                user,
                user_id,
                "You cannot change your own role: you would lose access to the settings. "
                "Ask another administrator.",
            )
        users.set_role(session, target, role, user.actor)

    label = ROLES.get(role, role).lower()
    return _user_action(request, session, user, user_id, act, "{email} is now " + label + ".")


@router.post("/settings/users/{user_id}/password", response_class=HTMLResponse)
def reset_password(
    request: Request,
    user: AdminPage,
    session: SessionDep,
    user_id: NumberId,
    password: FormText = "",
) -> HTMLResponse:
    def act(target: Any) -> None:
        _not_yourself(
            user,
            user_id,
            "Your own password is changed by another administrator, so that a lost session "
            "cannot change it.",
        )
        if has_broken_text(password):
            raise Invalid(f"This {BROKEN_TEXT}.", code="invalid_password", field="password")
        users.reset_password(session, target, password, user.actor, utcnow())

    done = "New password set for {email}; they are signed out everywhere and sign in with it."
    return _user_action(request, session, user, user_id, act, done)


# --- API keys ----------------------------------------------------------------------------


@router.post("/settings/api-keys", response_class=HTMLResponse)
def create_api_key(
    request: Request, user: AdminPage, session: SessionDep, name: FormText = ""
) -> HTMLResponse:
    values = {"name": name}
    label = name.strip()
    errors = _broken(values)
    if not errors and not label:
        errors["name"] = "Name the key after what uses it, e.g. Scheduling system."
    elif not errors and len(label) > 100:
        errors["name"] = f"Keep the name to 100 characters or fewer (now {len(label)})."
    if errors:
        return _refused(request, session, user, "api-keys", errors, values)
    try:
        new = orgs.create_api_key(session, user.org_id, name=label, actor=user.actor)
    except ServiceError as err:
        refused = refusal(session, err, "name")
        return _refused(
            request, session, user, "api-keys", refused.errors, values, status=refused.status
        )
    state = FormState(
        notice=f"Created the key “{label}”. Copy it now: it is shown only this once.",
        secret=new.key,
    )
    return _answer(request, session, user, "api-keys", "api-keys", state)


@router.post("/settings/api-keys/{key_id}/revoke", response_class=HTMLResponse)
def revoke_api_key(
    request: Request, user: AdminPage, session: SessionDep, key_id: NumberId
) -> HTMLResponse:
    orgs.revoke_api_key(session, user.org_id, key_id, user.actor, utcnow())
    notice = "Revoked the key: anything still using it is refused from now on."
    return _answer(request, session, user, "api-keys", "api-keys", FormState(notice=notice))
