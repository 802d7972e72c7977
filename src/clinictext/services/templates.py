"""Templates: save and check the texts reminders, confirmations and campaigns send.

The rules of a template (its fields, the confirmation's [ConfirmCode], the worst case, the
language variant, the campaign footer) are ``domain.templates``; this module loads and saves
rows and turns a ``TemplateError`` into the API's ``invalid_template`` answer. Filling and
describing a template live in ``services.templates_text`` and are re-exported here, so
callers import one module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clinictext.domain import templates as domain
from clinictext.services import audit
from clinictext.services.clock import utcnow
from clinictext.services.errors import Conflict, Invalid, NotFound
from clinictext.services.names import check_name
from clinictext.services.orgs import get_org
from clinictext.services.templates_text import (
    check_purpose,
    computed,
    confirm_url,
    described,
    described_all,
    findings,
    lint_kind,
    preview,
    text_for,
    values_for,
)
from clinictext.store.models import (
    Campaign,
    Rule,
    Template,
)

EDITABLE = ("name", "purpose", "body", "language", "variants")
# Campaign states in which a campaign will still send (or may be started): its template stays.
ACTIVE_CAMPAIGN_STATES = ("draft", "scheduled", "running", "paused")
# A language tag as patients' records and templates write it: "en", "es", "es-MX", "zh-Hant".
MAX_LANGUAGE = 12  # the column's length: "es-419", "zh-Hant-TW" fit
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")


# --- checks ----------------------------------------------------------------------------------


def _refused(err: domain.TemplateError, field: str) -> Invalid:
    return Invalid(
        err.message,
        code="invalid_template",
        field=field,
        position=err.position,
        suggestion=err.suggestion,
    )


def _check_body(body: str, purpose: str, field: str) -> list[str]:
    try:
        return domain.check(body, purpose)
    except domain.TemplateError as err:
        raise _refused(err, field) from None


def _check_language(language: str, field: str) -> str:
    language = language.strip()
    if len(language) > MAX_LANGUAGE or not _LANGUAGE.fullmatch(language):
        raise Invalid(
            f"'{language[:20]}' is not a language: write it as a code such as en, es or es-MX.",
            code="invalid_template",
            field=field,
        )
    return language


def _check_name(name: str) -> str:
    return check_name(
        name, what="template", example="Reminder, day before", code="invalid_template"
    )


def _check_variants(
    variants: Mapping[str, str] | None, language: str, purpose: str
) -> dict[str, str]:
    checked: dict[str, str] = {}
    for key, body in (variants or {}).items():
        lang = _check_language(key, f"variants.{key}")
        if lang.casefold() == language.casefold():
            raise Invalid(
                f"The template itself is in '{language}', so a '{lang}' variant would never be "
                f"used: remove it, or change the template's language.",
                code="invalid_template",
                field=f"variants.{key}",
            )
        if lang.casefold() in {k.casefold() for k in checked}:
            raise Invalid(
                f"There are two variants for '{lang}': keep one.",
                code="invalid_template",
                field=f"variants.{key}",
            )
        _check_body(body, purpose, f"variants.{key}")
        checked[lang] = body
    return checked


def _check_name_free(session: Session, org_id: int, name: str, own: int | None) -> None:
    other = session.scalar(
        select(Template.id).where(
            Template.organization_id == org_id,
            Template.deleted_at.is_(None),
            func.lower(Template.name) == name.lower(),
        )
    )
    if other is not None and other != own:
        raise Conflict(
            f"Template {other} is already named '{name}': choose another name.",
            code="template_name_taken",
            field="name",
            template_id=other,
        )


def _users(session: Session, org_id: int, template_id: int) -> list[str]:
    """What still sends this template: enabled rules and campaigns not yet over."""
    rules = session.scalars(
        select(Rule.name).where(
            Rule.organization_id == org_id,
            Rule.template_id == template_id,
            Rule.enabled.is_(True),
            Rule.deleted_at.is_(None),
        )
    )
    campaigns = session.scalars(
        select(Campaign.name).where(
            Campaign.organization_id == org_id,
            Campaign.template_id == template_id,
            Campaign.status.in_(ACTIVE_CAMPAIGN_STATES),
        )
    )
    return [f"rule '{n}'" for n in rules] + [f"campaign '{n}'" for n in campaigns]


def _in_use(users: list[str], what: str) -> Conflict:
    shown = ", ".join(users[:3]) + (f" and {len(users) - 3} more" if len(users) > 3 else "")
    return Conflict(
        f"This template is used by {shown}, so it cannot be {what}: turn those rules off, "
        "cancel those campaigns or give them another template first.",
        code="template_in_use",
        used_by=users,
    )


# --- use cases -------------------------------------------------------------------------------


def create(
    session: Session,
    org_id: int,
    *,
    name: str,
    purpose: str,
    body: str,
    language: str = "en",
    variants: Mapping[str, str] | None = None,
    actor: str,
    now: datetime | None = None,
) -> Template:
    """Save a new template; Invalid(code="invalid_template") says what to change."""
    get_org(session, org_id)
    name = _check_name(name)
    check_purpose(purpose)
    language = _check_language(language, "language")
    _check_body(body, purpose, "body")
    checked = _check_variants(variants, language, purpose)
    _check_name_free(session, org_id, name, None)
    now = now or utcnow()
    template = Template(
        organization_id=org_id,
        name=name,
        purpose=purpose,
        language=language,
        body=body,
        variants=checked,
        created_at=now,
        updated_at=now,
    )
    session.add(template)
    session.flush()
    audit.record(
        session,
        org_id,
        actor,
        "template.created",
        "template",
        template.id,
        {"name": name, "purpose": purpose},
        at=now,
    )
    return template


def get(session: Session, org_id: int, template_id: int) -> Template:
    """The organization's template; NotFound when it is another's or deleted."""
    template = session.get(Template, template_id)
    if template is None or template.organization_id != org_id or template.deleted_at is not None:
        raise NotFound(f"There is no template {template_id}.", code="template_not_found")
    return template


def list_templates(session: Session, org_id: int, purpose: str | None = None) -> list[Template]:
    """The organization's templates by name (deleted ones left out)."""
    query = select(Template).where(
        Template.organization_id == org_id, Template.deleted_at.is_(None)
    )
    if purpose is not None:
        check_purpose(purpose)
        query = query.where(Template.purpose == purpose)
    return list(session.scalars(query.order_by(func.lower(Template.name), Template.id)))


def update(
    session: Session,
    org_id: int,
    template_id: int,
    *,
    actor: str,
    now: datetime | None = None,
    **changes: Any,
) -> Template:
    """Change a template; the result is checked as a whole, as a new one would be.

    A template in use keeps its purpose (a rule or campaign chose it for that purpose).
    """
    template = get(session, org_id, template_id)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise Invalid(
            f"These fields cannot be changed: {', '.join(sorted(unknown))}.",
            code="invalid_request",
        )
    for key in EDITABLE:
        if key in changes and changes[key] is None and key != "variants":
            raise Invalid(f"'{key}' cannot be empty.", code="invalid_template", field=key)
    name = _check_name(changes["name"]) if "name" in changes else template.name
    purpose = changes.get("purpose", template.purpose)
    check_purpose(purpose)
    language = _check_language(changes.get("language", template.language), "language")
    body = changes.get("body", template.body)
    _check_body(body, purpose, "body")
    variants = changes.get("variants", template.variants)
    checked = _check_variants(variants, language, purpose)
    if name != template.name:
        _check_name_free(session, org_id, name, template.id)
    if purpose != template.purpose:
        users = _users(session, org_id, template.id)
        if users:
            raise _in_use(users, f"changed from {template.purpose} to {purpose}")
    new: dict[str, Any] = {
        "name": name,
        "purpose": purpose,
        "language": language,
        "body": body,
        "variants": checked,
    }
    changed = [key for key in EDITABLE if getattr(template, key) != new[key]]
    for key in changed:
        setattr(template, key, new[key])
    if changed:
        template.updated_at = now or utcnow()
        audit.record(
            session,
            org_id,
            actor,
            "template.updated",
            "template",
            template.id,
            {"fields": changed},
            at=template.updated_at,
        )
    return template


def delete(
    session: Session, org_id: int, template_id: int, *, actor: str, now: datetime | None = None
) -> None:
    """Delete a template no rule or campaign still sends; the row stays for past texts."""
    template = get(session, org_id, template_id)
    users = _users(session, org_id, template.id)
    if users:
        raise _in_use(users, "deleted")
    template.deleted_at = now or utcnow()
    audit.record(
        session,
        org_id,
        actor,
        "template.deleted",
        "template",
        template.id,
        {"name": template.name},
        at=template.deleted_at,
    )


__all__ = [
    "ACTIVE_CAMPAIGN_STATES",
    "EDITABLE",
    "computed",
    "confirm_url",
    "create",
    "delete",
    "described",
    "described_all",
    "findings",
    "get",
    "lint_kind",
    "list_templates",
    "preview",
    "text_for",
    "update",
    "values_for",
]
