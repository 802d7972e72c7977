"""Reminder and confirmation rules: save them, and keep every upcoming appointment's plan
in step with them.

Creating or enabling a rule plans its text for every upcoming appointment; changing its
offset moves the planned ones; disabling or deleting it cancels its texts not yet handed
to the provider, with the reason on each. The offsets' rules are ``domain.automation``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clinictext.domain.automation import Purpose, RuleRefused, check_rule, span
from clinictext.services import audit, automation
from clinictext.services import templates as templates_service
from clinictext.services.clock import utcnow
from clinictext.services.errors import Invalid, NotFound
from clinictext.services.names import check_name
from clinictext.services.orgs import get_org
from clinictext.store.models import AppointmentText, Rule, Template

EDITABLE = (
    "name",
    "purpose",
    "minutes_before",
    "do_not_send_within_minutes",
    "template_id",
    "enabled",
)


def _check_name(name: str) -> str:
    return check_name(name, what="rule", example="Reminder a day before", code="invalid_rule")


def _check_offsets(purpose: str, minutes_before: int, margin: int) -> None:
    try:
        check_rule(purpose, minutes_before, margin)
    except RuleRefused as err:
        raise Invalid(str(err), code="invalid_rule", field=err.field) from None


def _template_for(session: Session, org_id: int, template_id: int, purpose: str) -> Template:
    """The template a rule of ``purpose`` may send: the organization's, not deleted, and
    of the same purpose (a confirmation's always asks for [ConfirmCode])."""
    try:
        template = templates_service.get(session, org_id, template_id)
    except NotFound:
        raise NotFound(
            f"There is no template {template_id} (or it was deleted): choose one of the "
            f"{purpose} templates listed by GET /api/v1/templates.",
            code="template_not_found",
            field="template_id",
        ) from None
    if template.purpose != purpose:
        raise Invalid(
            f"Template '{template.name}' is a {template.purpose} template, and a {purpose} "
            f"rule sends a {purpose} template"
            + (
                " (one that asks the patient for [ConfirmCode])"
                if purpose == "confirmation"
                else ""
            )
            + f": choose a {purpose} template, or change the template's purpose.",
            code="invalid_rule",
            field="template_id",
        )
    return template


def create(
    session: Session,
    org_id: int,
    *,
    name: str,
    purpose: str,
    minutes_before: int,
    do_not_send_within_minutes: int = 0,
    template_id: int,
    enabled: bool = True,
    actor: str,
    now: datetime | None = None,
) -> Rule:
    """Save a rule; an enabled one is planned at once for every upcoming appointment."""
    get_org(session, org_id)
    now = now or utcnow()
    name = _check_name(name)
    _check_offsets(purpose, minutes_before, do_not_send_within_minutes)
    _template_for(session, org_id, template_id, purpose)
    rule = Rule(
        organization_id=org_id,
        name=name,
        purpose=purpose,
        minutes_before=minutes_before,
        do_not_send_within_minutes=do_not_send_within_minutes,
        template_id=template_id,
        enabled=enabled,
        created_at=now,
        updated_at=now,
    )
    session.add(rule)
    session.flush()
    planned = automation.plan_rule(session, rule, now) if enabled else 0
    audit.record(
        session,
        org_id,
        actor,
        "rule.created",
        "rule",
        rule.id,
        {"name": name, "purpose": purpose, "enabled": enabled, "planned": planned},
        at=now,
    )
    return rule


def get(session: Session, org_id: int, rule_id: int) -> Rule:
    """The organization's rule; NotFound when it is another's or deleted."""
    rule = session.get(Rule, rule_id)
    if rule is None or rule.organization_id != org_id or rule.deleted_at is not None:
        raise NotFound(f"There is no rule {rule_id}.", code="rule_not_found")
    return rule


def list_rules(session: Session, org_id: int) -> list[Rule]:
    """The organization's rules, oldest first (deleted ones left out)."""
    return list(
        session.scalars(
            select(Rule)
            .where(Rule.organization_id == org_id, Rule.deleted_at.is_(None))
            .order_by(Rule.id)
        )
    )


TEXT_STATES = ("planned", "queued", "skipped", "canceled")


def text_counts(session: Session, org_id: int, rule_ids: list[int]) -> dict[int, dict[str, int]]:
    """How many of each rule's appointment texts are in each state (every state named)."""
    counts = {rule_id: dict.fromkeys(TEXT_STATES, 0) for rule_id in rule_ids}
    if not rule_ids:
        return counts
    for rule_id, state, n in session.execute(
        select(AppointmentText.rule_id, AppointmentText.state, func.count())
        .where(
            AppointmentText.organization_id == org_id,
            AppointmentText.rule_id.in_(rule_ids),
        )
        .group_by(AppointmentText.rule_id, AppointmentText.state)
    ):
        counts[rule_id][state] = n
    return counts


def update(
    session: Session,
    org_id: int,
    rule_id: int,
    *,
    actor: str,
    now: datetime | None = None,
    **changes: Any,
) -> Rule:
    """Change a rule, checked as a whole as a new one would be, and re-plan its texts."""
    rule = get(session, org_id, rule_id)
    now = now or utcnow()
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise Invalid(
            f"These fields cannot be changed: {', '.join(sorted(unknown))}.",
            code="invalid_request",
        )
    for key, value in changes.items():
        if value is None:
            raise Invalid(f"'{key}' cannot be empty.", code="invalid_rule", field=key)
    new = {key: changes.get(key, getattr(rule, key)) for key in EDITABLE}
    new["name"] = _check_name(new["name"])
    _check_offsets(new["purpose"], new["minutes_before"], new["do_not_send_within_minutes"])
    if new["template_id"] != rule.template_id or new["purpose"] != rule.purpose:
        _template_for(session, org_id, new["template_id"], new["purpose"])
    elif new["enabled"] and not rule.enabled:
        _template_for(session, org_id, rule.template_id, rule.purpose)  # deleted meanwhile?
    changed = [key for key in EDITABLE if getattr(rule, key) != new[key]]
    if not changed:
        return rule
    was_enabled = rule.enabled
    for key in changed:
        setattr(rule, key, new[key])
    rule.updated_at = now
    session.flush()
    if was_enabled and not rule.enabled:
        automation.cancel_rule(session, rule, now, "The rule was turned off.")
    elif rule.enabled and (not was_enabled or "minutes_before" in changed):
        # Only the offset moves a text; texts already written keep their template's words.
        automation.plan_rule(session, rule, now)
    audit.record(
        session,
        org_id,
        actor,
        "rule.updated",
        "rule",
        rule.id,
        {"fields": changed, **({"enabled": rule.enabled} if "enabled" in changed else {})},
        at=now,
    )
    return rule


def delete(
    session: Session, org_id: int, rule_id: int, *, actor: str, now: datetime | None = None
) -> None:
    """Delete a rule: its texts not yet handed to the provider are canceled; the row stays
    for the texts it sent."""
    rule = get(session, org_id, rule_id)
    now = now or utcnow()
    rule.deleted_at = now
    rule.updated_at = now
    session.flush()
    canceled = automation.cancel_rule(session, rule, now, "The rule was deleted.")
    audit.record(
        session,
        org_id,
        actor,
        "rule.deleted",
        "rule",
        rule.id,
        {"name": rule.name, "canceled": canceled},
        at=now,
    )


def described(rule: Rule, template_name: str | None = None) -> str:
    """The rule in one sentence, e.g. "Reminder 1 day before each appointment, not within
    1 hour of its start (template 'Day before')." """
    kind = "Confirmation request" if rule.purpose == Purpose.CONFIRMATION else "Reminder"
    text = f"{kind} {span(rule.minutes_before)} before each appointment"
    if rule.do_not_send_within_minutes:
        text += f", not within {span(rule.do_not_send_within_minutes)} of its start"
    if template_name:
        text += f" (template '{template_name}')"
    text += "."
    if not rule.enabled:
        text += " Turned off."
    return text
