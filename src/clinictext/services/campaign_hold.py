"""Pausing, resuming and canceling a started campaign: every text of it at once.

Pause holds the texts the dispatcher has not taken: each one's due time is kept on its
recipient row and cleared on the text, and the outbox query (``dispatch.claims``: "due_at
<= now") never picks a text without one; texts claimed but not yet handed over go back the
same way (the hand-off skips a text that is no longer ``sending``, ``dispatch.handoff``).
Resume gives them their time back, placed again in the send window when it has passed.
Cancel cancels every text not handed to the provider with one conditional UPDATE
(``outbox.not_handed``), which a concurrent hand-off either wins (the text goes) or loses
(it is canceled): never both, as ``services.cancel`` does for one text.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from clinictext.domain import campaigns as rules
from clinictext.domain.bulk import WindowMemo
from clinictext.domain.statuses import DUE, Status
from clinictext.domain.window_search import NoSendWindowError
from clinictext.services import audit
from clinictext.services.campaign_bulk import insert_rows
from clinictext.services.campaign_rows import (
    locked,
)
from clinictext.services.campaign_send import (
    CHUNK,
    EVENT_COLUMNS,
    EVENTS,
    check_action,
)
from clinictext.services.clock import utcnow
from clinictext.services.orgs import get_org
from clinictext.services.outbox import not_handed
from clinictext.services.scheduling import send_window
from clinictext.store.models import (
    Campaign,
    CampaignRecipient,
    Message,
    Patient,
)

_DUE = [s.value for s in DUE]


# --- pause and resume -------------------------------------------------------------------------

PAUSED_DETAIL = "Held: the campaign was paused; it goes out when the campaign is resumed."


def _take_back(session: Session, campaign: Campaign, now: datetime) -> list[int]:
    """Claimed but not handed over: back to queued and held, with a history entry."""
    ids = list(
        session.scalars(
            update(Message)
            .where(
                Message.campaign_id == campaign.id,
                Message.organization_id == campaign.organization_id,
                Message.status == Status.SENDING.value,
                Message.handed_at.is_(None),
            )
            .values(
                status=Status.QUEUED.value,
                due_at=None,
                claimed_by=None,
                lease_until=None,
                attempts=Message.attempts - 1,
                updated_at=now,
            )
            .returning(Message.id)
            .execution_options(synchronize_session=False)
        )
    )
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        session.execute(
            update(CampaignRecipient)
            .where(
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.message_id.in_(chunk),
            )
            .values(planned_at=now)
            .execution_options(synchronize_session=False)
        )
    if ids:
        org_id, status = campaign.organization_id, Status.QUEUED.value
        insert_rows(
            session,
            EVENTS,
            EVENT_COLUMNS,
            [(org_id, mid, status, PAUSED_DETAIL, now) for mid in ids],
        )
    return ids


def pause(
    session: Session, org_id: int, campaign_id: int, *, actor: str, now: datetime | None = None
) -> Campaign:
    """Hold every text the dispatcher has not handed over; Conflict when not running."""
    now = now or utcnow()
    campaign = locked(session, org_id, campaign_id)
    check_action(session, campaign, rules.Action.PAUSE, now)
    held_now = (
        Message.campaign_id == campaign.id,
        Message.organization_id == org_id,
        Message.status.in_(_DUE),
        Message.due_at.is_not(None),
    )
    session.execute(
        update(CampaignRecipient)
        .where(
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.message_id.in_(select(Message.id).where(*held_now)),
        )
        .values(
            planned_at=select(Message.due_at)
            .where(Message.id == CampaignRecipient.message_id)
            .scalar_subquery()
        )
        .execution_options(synchronize_session=False)
    )
    held = session.execute(
        update(Message)
        .where(*held_now)
        .values(due_at=None, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    taken_back = _take_back(session, campaign, now)
    campaign.status = rules.CampaignStatus.PAUSED.value
    campaign.updated_at = now
    audit.record(
        session,
        org_id,
        actor,
        "campaign.paused",
        "campaign",
        campaign.id,
        {"held": int(held or 0) + len(taken_back)},
        at=now,
    )
    session.flush()
    return campaign


def resume(
    session: Session, org_id: int, campaign_id: int, *, actor: str, now: datetime | None = None
) -> Campaign:
    """Give every held text its time back (placed again in the send window if it passed)."""
    now = now or utcnow()
    campaign = locked(session, org_id, campaign_id)
    check_action(session, campaign, rules.Action.RESUME, now)
    org = get_org(session, org_id)
    at = max(now, campaign.send_at) if campaign.send_at is not None else now
    window = WindowMemo(at, send_window(org), org.timezone)
    held_now = (
        Message.campaign_id == campaign.id,
        Message.organization_id == org_id,
        Message.status.in_(_DUE),
    )
    rows = session.execute(
        select(Message.id, CampaignRecipient.planned_at, Patient.phone, Patient.timezone)
        .join(CampaignRecipient, CampaignRecipient.message_id == Message.id)
        .join(Patient, Patient.id == Message.patient_id)
        .where(*held_now, CampaignRecipient.campaign_id == campaign.id, Message.due_at.is_(None))
    ).all()
    groups: dict[datetime, list[int]] = defaultdict(list)
    never: list[tuple[int, str]] = []
    for mid, planned, phone, tz in rows:
        if planned is not None and planned >= at:
            groups[planned].append(mid)
            continue
        try:
            groups[window.place(phone, tz).send_at].append(mid)
        except NoSendWindowError as err:
            never.append((mid, str(err)))
    for mid, why in never:
        _cancel_ids(session, campaign, [mid], now, f"canceled: {why}")
    # The largest group last, by what is left held: no list of its ids to send.
    ordered = sorted(groups.items(), key=lambda item: len(item[1]))
    for n, (due, ids) in enumerate(ordered):
        if n == len(ordered) - 1:
            session.execute(
                update(Message)
                .where(*held_now, Message.due_at.is_(None))
                .values(due_at=due, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            break
        for start in range(0, len(ids), CHUNK):
            session.execute(
                update(Message)
                .where(Message.id.in_(ids[start : start + CHUNK]), Message.due_at.is_(None))
                .values(due_at=due, updated_at=now)
                .execution_options(synchronize_session=False)
            )
    session.execute(
        update(CampaignRecipient)
        .where(
            CampaignRecipient.campaign_id == campaign.id, CampaignRecipient.planned_at.is_not(None)
        )
        .values(planned_at=None)
        .execution_options(synchronize_session=False)
    )
    campaign.status = rules.started_status(campaign.send_at, now).value
    campaign.updated_at = now
    audit.record(
        session,
        org_id,
        actor,
        "campaign.resumed",
        "campaign",
        campaign.id,
        {"resumed": len(rows) - len(never)},
        at=now,
    )
    session.flush()
    return campaign


# --- cancel -----------------------------------------------------------------------------------


def _cancel_ids(
    session: Session, campaign: Campaign, only: list[int] | None, now: datetime, why: str
) -> int:
    """Cancel the campaign's texts not handed to the provider (``only`` those ids)."""
    where = [
        Message.campaign_id == campaign.id,
        Message.organization_id == campaign.organization_id,
        Message.direction == "outbound",
        not_handed(),
    ]
    if only is not None:
        where.append(Message.id.in_(only))
    ids = list(
        session.scalars(
            update(Message)
            .where(*where)
            .values(
                status=Status.CANCELED.value,
                updated_at=now,
                claimed_by=None,
                lease_until=None,
            )
            .returning(Message.id)
            .execution_options(synchronize_session=False)
        )
    )
    if ids:
        org_id, status = campaign.organization_id, Status.CANCELED.value
        insert_rows(
            session, EVENTS, EVENT_COLUMNS, [(org_id, mid, status, why, now) for mid in ids]
        )
    return len(ids)


def cancel(
    session: Session, org_id: int, campaign_id: int, *, actor: str, now: datetime | None = None
) -> Campaign:
    """Cancel every text not yet handed to the provider; Conflict when nothing can be."""
    now = now or utcnow()
    campaign = locked(session, org_id, campaign_id)
    check_action(session, campaign, rules.Action.CANCEL, now)
    canceled = _cancel_ids(
        session, campaign, None, now, f"canceled: the campaign was canceled by {actor}"
    )
    session.execute(
        update(CampaignRecipient)
        .where(
            CampaignRecipient.campaign_id == campaign.id, CampaignRecipient.planned_at.is_not(None)
        )
        .values(planned_at=None)
        .execution_options(synchronize_session=False)
    )
    campaign.status = rules.CampaignStatus.CANCELED.value
    campaign.updated_at = now
    audit.record(
        session,
        org_id,
        actor,
        "campaign.canceled",
        "campaign",
        campaign.id,
        {"canceled": canceled},
        at=now,
    )
    session.flush()
    return campaign
