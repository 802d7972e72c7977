"""Loading campaigns, and reading what each one is doing now.

Shared by the use cases (``services.campaigns``, ``campaign_send``, ``campaign_report``):
a campaign of this organization or 404, locked for an action, its audience, channel and
template, and its status, where ``done`` is read from its texts' statuses.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clinictext.domain import campaigns as rules
from clinictext.domain.audience import Audience, parse_audience
from clinictext.domain.checklist import Channel
from clinictext.services.errors import NotFound
from clinictext.services.patients import Page, parse_cursor
from clinictext.store.db import for_update
from clinictext.store.models import Campaign, Message, Template

# The audience JSON also records the channel the campaign goes out on (lead by default:
# campaign and lead texting share the approved lead number).
CHANNEL_KEY = "channel"


def get(session: Session, org_id: int, campaign_id: int) -> Campaign:
    """The organization's campaign; NotFound for another organization's."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.organization_id != org_id:
        raise NotFound(f"There is no campaign {campaign_id}.", code="campaign_not_found")
    return campaign


def locked(session: Session, org_id: int, campaign_id: int) -> Campaign:
    """The campaign, locked until the transaction ends: one action at a time."""
    get(session, org_id, campaign_id)
    query = select(Campaign).where(Campaign.id == campaign_id, Campaign.organization_id == org_id)
    return session.scalars(for_update(session, query)).one()


def list_campaigns(
    session: Session, org_id: int, *, limit: int = 50, cursor: str | None = None
) -> Page:
    """Newest first; the cursor continues below the last id returned."""
    query = select(Campaign).where(Campaign.organization_id == org_id)
    before = parse_cursor(cursor)
    if before is not None:
        query = query.where(Campaign.id < before)
    rows = list(session.scalars(query.order_by(Campaign.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, str(rows[-1].id) if more else None)


def audience_of(campaign: Campaign) -> Audience:
    raw = {k: v for k, v in (campaign.audience or {}).items() if k != CHANNEL_KEY}
    return parse_audience(raw)


def channel_of(campaign: Campaign) -> Channel:
    return Channel((campaign.audience or {}).get(CHANNEL_KEY, Channel.LEAD.value))


def template_of(session: Session, campaign: Campaign) -> Template:
    """The campaign's template (a deleted one too: it stays for the campaigns that used it)."""
    template = session.get(Template, campaign.template_id)
    assert template is not None and template.organization_id == campaign.organization_id
    return template


def by_status(session: Session, campaign_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """How many texts each campaign has in each status: one grouped query (its index).

    Callers pass campaigns they loaded for the organization: a campaign's texts are only
    ever written for its own organization.
    """
    ids = sorted(set(campaign_ids))
    out: dict[int, dict[str, int]] = defaultdict(dict)
    if not ids:
        return out
    rows = session.execute(
        select(Message.campaign_id, Message.status, func.count())
        .where(Message.campaign_id.in_(ids))
        .group_by(Message.campaign_id, Message.status)
    )
    for campaign_id, status, n in rows:
        if campaign_id is not None:
            out[campaign_id][status] = int(n)
    return out


def current_status(
    campaign: Campaign, statuses: Mapping[str, int], now: datetime
) -> rules.CampaignStatus:
    return rules.current_status(campaign.status, campaign.send_at, now, rules.pending(statuses))


def status_of(session: Session, campaign: Campaign, now: datetime) -> rules.CampaignStatus:
    """What the campaign is doing now (``done`` is read from its texts)."""
    if campaign.status in (rules.CampaignStatus.DRAFT, rules.CampaignStatus.CANCELED):
        return rules.CampaignStatus(campaign.status)
    return current_status(campaign, by_status(session, [campaign.id])[campaign.id], now)
