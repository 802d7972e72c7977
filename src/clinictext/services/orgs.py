"""Organizations, their settings, and the API keys that act for them."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from clinictext.domain.checklist import Registration
from clinictext.domain.phones import PhoneError, normalize_e164
from clinictext.domain.replies import REQUIRED, ReplyRefused, check_template
from clinictext.domain.send_window import is_clock_time
from clinictext.services import audit
from clinictext.services.clock import utcnow
from clinictext.services.errors import Invalid, NotFound
from clinictext.store.models import ApiKey, Organization, table_of

KEY_PREFIX = "ct_"
_BROKEN_TEXT = re.compile("[\ud800-\udfff\x00]")
# The longest values the API accepts (api/schemas.py); the key's name is its column's width.
MAX_TIMEZONE = 64
MAX_REPLY = 320
MAX_KEY_NAME = 100
REGISTRATIONS = tuple(r.value for r in Registration)
URL_POLICIES = ("warn", "block")

# Every refusal below names the field it is about (``field=``, as the request names it), so
# that a form can show it next to that field.

# A lead closed for silence sooner than a day is closed before the clinic could call back.
MIN_INACTIVITY_DAYS, MAX_INACTIVITY_DAYS = 1, 365


def validate_timezone(name: str, field: str = "timezone") -> str:
    if not name.strip():
        raise Invalid(
            "Choose a time zone, as Region/City, e.g. America/New_York.",
            code="invalid_timezone",
            field=field,
        )
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        shown = name if len(name) <= MAX_TIMEZONE else name[:MAX_TIMEZONE] + "…"
        raise Invalid(
            f"'{shown}' is not a time zone. Use an IANA name such as America/New_York.",
            code="invalid_timezone",
            field=field,
        ) from None
    return name


def validate_clock_time(value: str, field: str, label: str, example: str) -> str:
    # Strictly "HH:MM" in ASCII digits: int() would also take "+8", " 8" or "٠٨", which the
    # send path cannot read back.
    if not is_clock_time(value):
        raise Invalid(
            f"The {label} must be a 24-hour time as HH:MM, e.g. {example}.",
            code="invalid_time",
            field=field,
        )
    return value


def _refuse_broken_text(text: str, what: str, field: str) -> None:
    # A command line's undecodable bytes arrive as lone surrogates; no database stores one,
    # and PostgreSQL stores no NUL either.
    if _BROKEN_TEXT.search(text):
        raise Invalid(
            f"{what} contains a broken character (a NUL, bytes that are not UTF-8, or half "
            "of an emoji); retype it.",
            code="invalid_text",
            field=field,
        )


def create_org(
    session: Session, name: str, *, timezone: str = "America/New_York", actor: str = "cli"
) -> Organization:
    name = name.strip()
    if not name:
        raise Invalid("The organization needs a name.", code="invalid_name", field="name")
    _refuse_broken_text(name, "The organization's name", "name")
    org = Organization(
        name=name,
        timezone=validate_timezone(timezone),
        sms_enabled=False,
        messaging_registration=Registration.NONE.value,
        country="US",
        send_window_start="08:00",
        send_window_end="21:00",
        segment_price_micros=7900,
        url_policy="warn",
        created_at=utcnow(),
    )
    session.add(org)
    session.flush()
    audit.record(session, org.id, actor, "org.created", "organization", org.id, {"name": name})
    return org


def get_org(session: Session, org_id: int) -> Organization:
    org = session.get(Organization, org_id)
    if org is None:
        raise NotFound(f"There is no organization {org_id}.", code="org_not_found")
    return org


def update_org(session: Session, org_id: int, changes: dict[str, Any], actor: str) -> Organization:
    """Apply validated changes; the audit event records old and new values.

    A refusal names its field as the request does: ``timezone``, ``clinic_phone``,
    ``replies.<kind>``, ``send_window.start`` or ``send_window.end``, ``messaging_registration``,
    ``url_policy``, ``lead_inactivity_days``.
    """
    org = get_org(session, org_id)
    if "timezone" in changes:
        _refuse_broken_text(changes["timezone"], "The time zone", "timezone")
        validate_timezone(changes["timezone"])
    if changes.get("clinic_phone") is not None:
        _refuse_broken_text(changes["clinic_phone"], "The clinic phone", "clinic_phone")
        try:
            changes["clinic_phone"] = normalize_e164(changes["clinic_phone"], org.country)
        except PhoneError as err:
            raise Invalid(
                f"Clinic phone: {err}", code="invalid_phone", field="clinic_phone"
            ) from None
    for kind, text in (changes.pop("replies", None) or {}).items():
        if text is not None:
            _check_reply(kind, text)
        changes[f"reply_{kind}"] = text
    window = changes.pop("send_window", None)
    if window is not None:
        changes["send_window_start"], changes["send_window_end"] = _check_window(window)
    if "messaging_registration" in changes and (
        changes["messaging_registration"] not in REGISTRATIONS
    ):
        raise Invalid(
            "Choose the carrier registration's state: none, pending, approved or rejected.",
            code="invalid_registration",
            field="messaging_registration",
        )
    days = changes.get("lead_inactivity_days")
    if days is not None and not (
        isinstance(days, int) and MIN_INACTIVITY_DAYS <= days <= MAX_INACTIVITY_DAYS
    ):
        raise Invalid(
            f"Close inactive leads after {MIN_INACTIVITY_DAYS} to {MAX_INACTIVITY_DAYS} days "
            "without a reply, or leave it empty to keep leads open.",
            code="invalid_lead_inactivity_days",
            field="lead_inactivity_days",
        )
    if "url_policy" in changes and changes["url_policy"] not in URL_POLICIES:
        raise Invalid(
            "Choose whether links in the texts staff type are only warned about (warn) or "
            "blocked (block).",
            code="invalid_url_policy",
            field="url_policy",
        )
    before = {}
    for field, value in changes.items():
        before[field] = getattr(org, field)
        setattr(org, field, value)
    changed = {k: {"from": before[k], "to": v} for k, v in changes.items() if before[k] != v}
    if changed:
        audit.record(session, org.id, actor, "org.updated", "organization", org.id, changed)
    return org


def _check_reply(kind: str, text: str) -> None:
    field = f"replies.{kind}"
    if kind not in REQUIRED:
        raise Invalid(f"There is no '{kind}' reply to reword.", code="invalid_reply", field=field)
    _refuse_broken_text(text, "The reply", field)
    if len(text) > MAX_REPLY:
        raise Invalid(
            f"Keep the reply to {MAX_REPLY} characters or fewer (now {len(text)}).",
            code="invalid_reply",
            field=field,
        )
    try:
        check_template(kind, text)
    except ReplyRefused as err:
        raise Invalid(str(err), code="invalid_reply", field=field) from None


def _check_window(window: dict[str, str]) -> tuple[str, str]:
    start = validate_clock_time(
        window["start"], "send_window.start", "send window's start", "08:00"
    )
    end = validate_clock_time(window["end"], "send_window.end", "send window's end", "21:00")
    if start >= end:  # "HH:MM" strings in ASCII digits sort as times do
        raise Invalid(
            f"The window must end after it starts, on the same day: {start} to {end} does "
            "not. For example 08:00 to 21:00.",
            code="invalid_send_window",
            field="send_window.end",
        )
    return start, end


@dataclass(frozen=True)
class NewApiKey:
    id: int
    key: str  # shown once; only its hash is stored


def hash_key(key: str) -> str:
    # API keys are 256-bit random values, so a fast hash is enough: no dictionary to attack.
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    session: Session,
    org_id: int,
    *,
    name: str = "default",
    actor: str = "cli",
    key: str | None = None,
) -> NewApiKey:
    get_org(session, org_id)
    name = name.strip()
    _refuse_broken_text(name, "The key's name", "name")
    if not name:
        raise Invalid(
            "Name the key after what uses it, e.g. Scheduling system.",
            code="invalid_name",
            field="name",
        )
    if len(name) > MAX_KEY_NAME:
        raise Invalid(
            f"Keep the key's name to {MAX_KEY_NAME} characters or fewer (now {len(name)}).",
            code="invalid_name",
            field="name",
        )
    key = key or KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        organization_id=org_id,
        name=name,
        prefix=key[:10],
        key_hash=hash_key(key),
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    audit.record(session, org_id, actor, "apikey.created", "api_key", row.id, {"name": name})
    return NewApiKey(row.id, key)


class KeyOwner(NamedTuple):
    id: int
    organization_id: int
    name: str


def authenticate(session: Session, key: str) -> KeyOwner | None:
    """The live key matching ``key`` (its id, organization and name), or None."""
    row = session.execute(_LIVE_KEY, {"key_hash": hash_key(key)}).first()
    return None if row is None else KeyOwner(*row)


# Built once, of the table's columns: every API request runs it, and plain rows skip the
# ORM's execution path (about a third of this statement's cost on PostgreSQL).
_KEYS = table_of(ApiKey).c
_LIVE_KEY = select(_KEYS.id, _KEYS.organization_id, _KEYS.name).where(
    _KEYS.key_hash == bindparam("key_hash"), _KEYS.revoked_at.is_(None)
)


def revoke_api_key(session: Session, org_id: int, key_id: int, actor: str, now: datetime) -> None:
    row = session.get(ApiKey, key_id)
    if row is None or row.organization_id != org_id:
        raise NotFound(f"There is no API key {key_id}.", code="api_key_not_found")
    if row.revoked_at is None:
        row.revoked_at = now
        audit.record(session, org_id, actor, "apikey.revoked", "api_key", key_id)
