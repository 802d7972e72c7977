"""Campaigns: create one with its preview, read them, and what each is doing now.

A campaign is created as a draft with a preview (who of its audience would get the text and
why the others would not, ``services.campaign_audience``); starting is
``services.campaign_send``, pausing, resuming and canceling ``services.campaign_hold``; its
progress counts and per-recipient report are ``services.campaign_report``, an audience from
a CSV file ``services.campaign_csv``. The API, the command line and the web pages call them
all through this module (``__all__``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from clinictext.domain import campaigns as rules
from clinictext.domain.audience import Audience, AudienceError, parse_audience
from clinictext.domain.checklist import Channel
from clinictext.services import audit
from clinictext.services import templates as template_service
from clinictext.services.appointments import read_instant
from clinictext.services.campaign_audience import evaluate
from clinictext.services.campaign_csv import CsvAudience, resolve_csv
from clinictext.services.campaign_hold import cancel, pause, resume
from clinictext.services.campaign_report import (
    counts,
    described,
    described_all,
    recipients,
    recipients_csv,
    skipped_preview,
)
from clinictext.services.campaign_rows import (
    CHANNEL_KEY,
    audience_of,
    channel_of,
    get,
    list_campaigns,
    locked,
    status_of,
    template_of,
)
from clinictext.services.campaign_send import start
from clinictext.services.campaign_text import check_fields
from clinictext.services.clock import utcnow
from clinictext.services.errors import Invalid
from clinictext.services.names import check_name
from clinictext.store.models import Campaign, Template

CAMPAIGN_PURPOSES = ("campaign", "general")
# How far ahead a send time may be: further is more likely a typo in the year.
MAX_AHEAD = timedelta(days=365)
# A send time a little in the past is "now" (the form was filled in a minute ago).
GRACE = timedelta(minutes=5)


# --- creating ---------------------------------------------------------------------------------


def _check_name(name: str) -> str:
    return check_name(
        name, what="campaign", example="Spring whitening offer", code="invalid_campaign"
    )


def _check_template(session: Session, org_id: int, template_id: int) -> Template:
    template = template_service.get(session, org_id, template_id)
    if template.purpose not in CAMPAIGN_PURPOSES:
        raise Invalid(
            f"Template '{template.name}' is a {template.purpose} template: choose a campaign "
            "or general template.",
            code="invalid_template",
            field="template_id",
        )
    check_fields(template)
    return template


def _check_send_at(send_at: datetime | str | None, now: datetime) -> datetime | None:
    if send_at is None:
        return None
    if isinstance(send_at, str):
        send_at = read_instant(send_at, "send_at")
    if send_at.tzinfo is None or send_at.utcoffset() is None:
        raise Invalid(
            "send_at has no time zone: write it with one, e.g. 2026-12-01T09:00:00-05:00.",
            code="invalid_campaign",
            field="send_at",
        )
    if send_at < now - GRACE:
        raise Invalid(
            f"send_at ({send_at.isoformat()}) is in the past: leave it out to send when the "
            "campaign is started, or choose a later time.",
            code="invalid_campaign",
            field="send_at",
        )
    if send_at > now + MAX_AHEAD:
        raise Invalid(
            f"send_at ({send_at.isoformat()}) is more than a year ahead: check the year.",
            code="invalid_campaign",
            field="send_at",
        )
    return send_at


def _audience(raw: Audience | Mapping[str, Any]) -> Audience:
    if isinstance(raw, Audience):
        return raw
    try:
        return parse_audience(raw)
    except AudienceError as err:
        raise Invalid(err.message, code="invalid_audience", field=err.field) from None


def _no_recipients(audience: Audience) -> Invalid:
    return Invalid(
        f"No patient matches this audience ({audience.describe()}), so the campaign would "
        "have no recipients: choose other lead stages, language or patients.",
        code="no_recipients",
        field="audience",
    )


def create(
    session: Session,
    org_id: int,
    *,
    name: str,
    template_id: int,
    audience: Audience | Mapping[str, Any],
    actor: str,
    send_at: datetime | str | None = None,
    channel: Channel = Channel.LEAD,
    now: datetime | None = None,
) -> Campaign:
    """A draft campaign with its preview; Invalid (422) says what to change.

    ``send_at`` may be ISO 8601 text with its offset (as the API and the command line get it).
    """
    now = now or utcnow()
    name = _check_name(name)
    template = _check_template(session, org_id, template_id)
    chosen = _audience(audience)
    send_at = _check_send_at(send_at, now)
    evaluation = evaluate(session, org_id, template, chosen, channel, now=now, send_at=send_at)
    preview = evaluation.preview
    if preview.audience == 0:
        raise _no_recipients(chosen)
    campaign = Campaign(
        organization_id=org_id,
        name=name,
        template_id=template.id,
        audience={**chosen.as_json(), CHANNEL_KEY: channel.value},
        send_at=send_at,
        status=rules.CampaignStatus.DRAFT.value,
        preview=preview.as_json(),
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    session.add(campaign)
    session.flush()
    audit.record(
        session,
        org_id,
        actor,
        "campaign.created",
        "campaign",
        campaign.id,
        {"template_id": template.id, "channel": channel.value, **preview.as_json()},
        at=now,
    )
    return campaign


def refresh_preview(
    session: Session, org_id: int, campaign_id: int, *, actor: str, now: datetime | None = None
) -> Campaign:
    """Run a draft's preview again (consent and patients change) and keep it."""
    now = now or utcnow()
    campaign = locked(session, org_id, campaign_id)
    if campaign.status != rules.CampaignStatus.DRAFT.value:
        return campaign  # a started campaign's preview is what it was started with
    evaluation = evaluate(
        session,
        org_id,
        template_of(session, campaign),
        audience_of(campaign),
        channel_of(campaign),
        now=now,
        send_at=campaign.send_at,
    )
    campaign.preview = evaluation.preview.as_json()
    campaign.updated_at = now
    session.flush()
    return campaign


# The names the API, the command line and the web pages call, in one place.
preview = refresh_preview

_ACTIONS = {
    rules.Action.START: start,
    rules.Action.PAUSE: pause,
    rules.Action.RESUME: resume,
    rules.Action.CANCEL: cancel,
}


def act(
    session: Session,
    org_id: int,
    campaign_id: int,
    action: rules.Action,
    *,
    actor: str,
    now: datetime | None = None,
) -> Campaign:
    """Start, pause, resume or cancel: ``Conflict`` when the campaign's state refuses it."""
    return _ACTIONS[action](session, org_id, campaign_id, actor=actor, now=now)


__all__ = [
    "CsvAudience",
    "act",
    "audience_of",
    "cancel",
    "channel_of",
    "counts",
    "create",
    "described",
    "described_all",
    "get",
    "list_campaigns",
    "pause",
    "preview",
    "recipients",
    "recipients_csv",
    "refresh_preview",
    "resolve_csv",
    "resume",
    "skipped_preview",
    "start",
    "status_of",
]
