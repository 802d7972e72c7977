"""Starting, pausing, resuming and canceling a campaign: every text of it at once.

Start writes, in one transaction, a row for every patient of the audience (the text written
for them, or why they were skipped) and every text with its first status event and its
commlog, exactly as ``services.sending.send`` writes one staff text (kind ``campaign``, the
bulk lane, ``queued`` or ``scheduled`` for the send window and the send time), but with one
multi-row INSERT per table instead of 100,000 ORM objects.

Pause holds the texts the dispatcher has not taken: each one's due time is kept on its
recipient row and cleared on the text, and the outbox query (``dispatch.claims``, "due_at
<= now") never picks a text without one; texts claimed but not yet handed over go back the
same way (the hand-off skips a text that is no longer ``sending``). Resume gives them their
time back, placed again in the send window when it has passed. Cancel cancels every text not
handed to the provider with one conditional UPDATE (``outbox.not_handed``), which a
concurrent hand-off either wins (the text goes) or loses (it is canceled): never both.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from clinictext.domain import campaigns as rules
from clinictext.domain.bulk import SegmentMemo, WindowMemo
from clinictext.domain.statuses import DUE, Status
from clinictext.domain.window_search import NoSendWindowError
from clinictext.services import audit
from clinictext.services.campaign_audience import Evaluation, Recipient, evaluate, send_window
from clinictext.services.campaign_rows import (
    audience_of,
    channel_of,
    locked,
    status_of,
    template_of,
)
from clinictext.services.clock import utcnow
from clinictext.services.errors import Conflict
from clinictext.services.orgs import get_org
from clinictext.services.outbox import not_handed
from clinictext.services.sending import LANE_BULK
from clinictext.store.models import (
    Campaign,
    CampaignRecipient,
    Commlog,
    Message,
    MessageEvent,
    Patient,
)

KIND = "campaign"
CHUNK = 5_000  # ids a statement (under both databases' bound-parameter limits)
_DUE = [s.value for s in DUE]


def _refuse(err: rules.Refused) -> Conflict:
    return Conflict(err.message, code=err.code)


def _check(session: Session, campaign: Campaign, action: rules.Action, now: datetime) -> None:
    try:
        rules.check(action, status_of(session, campaign, now))
    except rules.Refused as err:
        raise _refuse(err) from None


# --- start ------------------------------------------------------------------------------------


def _local(at: datetime, zone: str) -> str:
    local = at.astimezone(ZoneInfo(zone))
    return f"{local:%A %Y-%m-%d} at {local:%H:%M} ({zone})"


def _hold_reason(r: Recipient, now: datetime, at: datetime, org_zone: str) -> str | None:
    """Why a text waits, as its first status event says it; None when it goes now."""
    if r.placement.send_at <= now:
        return None
    if not r.placement.allowed:
        if at > now:
            return f"Held until the campaign's send time, then {r.placement.reason}"
        return r.placement.reason
    return f"Held until the campaign's send time, {_local(at, org_zone)}."


def write_texts(
    session: Session, campaign: Campaign, evaluation: Evaluation, actor: str, now: datetime
) -> list[int]:
    """Insert every recipient's text, first status event and commlog; the message ids."""
    org, sender = evaluation.org, evaluation.sender
    assert sender is not None or not evaluation.recipients  # the sender check passed
    segments = SegmentMemo()
    price = org.segment_price_micros
    rows: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for r in evaluation.recipients:
        info = segments.count(r.body)
        due = r.placement.send_at
        status = (Status.SCHEDULED if due > now else Status.QUEUED).value
        rows.append(
            {
                "organization_id": org.id,
                "patient_id": r.patient.id,
                "campaign_id": campaign.id,
                "sender_number_id": sender.id if sender else None,
                "direction": "outbound",
                "kind": KIND,
                "channel": evaluation.channel.value,
                "lane": LANE_BULK,
                "body": r.body,
                "encoding": info.encoding,
                "segments": info.segments,
                "cost_micros": info.segments * price,
                "to_phone": r.patient.phone,
                "from_phone": sender.number if sender else None,
                "status": status,
                "due_at": due,
                "attempts": 0,
                "created_by": actor,
                "created_at": now,
                "updated_at": now,
            }
        )
        events.append(
            {
                "organization_id": org.id,
                "status": status,
                "detail": _hold_reason(r, now, evaluation.at, org.timezone),
                "at": now,
            }
        )
    if not rows:
        return []
    ids: list[int] = list(
        session.scalars(insert(Message).returning(Message.id, sort_by_parameter_order=True), rows)
    )
    for mid, event in zip(ids, events, strict=True):
        event["message_id"] = mid
    session.execute(insert(MessageEvent), events)
    session.execute(
        insert(Commlog),
        [
            {
                "organization_id": org.id,
                "patient_id": row["patient_id"],
                "message_id": mid,
                "direction": "outbound",
                "kind": KIND,
                "at": now,
            }
            for mid, row in zip(ids, rows, strict=True)
        ],
    )
    return ids


def _write_recipients(
    session: Session, campaign: Campaign, evaluation: Evaluation, ids: list[int]
) -> None:
    org_id = campaign.organization_id
    rows: list[dict[str, Any]] = [
        {
            "organization_id": org_id,
            "campaign_id": campaign.id,
            "patient_id": r.patient.id,
            "skip_reason": None,
            "skip_checks": None,
            "message_id": mid,
            "planned_at": None,
        }
        for r, mid in zip(evaluation.recipients, ids, strict=True)
    ]
    rows += [
        {
            "organization_id": org_id,
            "campaign_id": campaign.id,
            "patient_id": s.patient.id,
            "skip_reason": s.reasons[0],
            "skip_checks": list(s.reasons),
            "message_id": None,
            "planned_at": None,
        }
        for s in evaluation.skipped
    ]
    if rows:
        session.execute(insert(CampaignRecipient), rows)


def _nobody(preview: rules.Preview) -> Conflict:
    reasons = ", ".join(f"{reason} {n:,}" for reason, n in preview.skip_reasons.items())
    return Conflict(
        f"Nobody in the audience can receive this campaign now: all {preview.skipped:,} "
        f"patients are skipped ({reasons}). Look at the preview for each patient's reason.",
        code="no_recipients",
        preview=preview.as_json(),
    )


def start(
    session: Session, org_id: int, campaign_id: int, *, actor: str, now: datetime | None = None
) -> Campaign:
    """Run the checklist again and write every text; Conflict when it cannot start."""
    now = now or utcnow()
    campaign = locked(session, org_id, campaign_id)
    _check(session, campaign, rules.Action.START, now)
    evaluation = evaluate(
        session,
        org_id,
        template_of(session, campaign),
        audience_of(campaign),
        channel_of(campaign),
        now=now,
        send_at=campaign.send_at,
    )
    preview = evaluation.preview
    if not evaluation.recipients:
        raise _nobody(preview)
    ids = write_texts(session, campaign, evaluation, actor, now)
    _write_recipients(session, campaign, evaluation, ids)
    campaign.status = rules.started_status(campaign.send_at, now).value
    campaign.preview = preview.as_json()
    campaign.started_at = now
    campaign.updated_at = now
    audit.record(
        session,
        org_id,
        actor,
        "campaign.started",
        "campaign",
        campaign.id,
        {**preview.as_json(), "status": campaign.status},
        at=now,
    )
    session.flush()
    return campaign


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
        session.execute(
            insert(MessageEvent),
            [
                {
                    "organization_id": campaign.organization_id,
                    "message_id": mid,
                    "status": Status.QUEUED.value,
                    "detail": PAUSED_DETAIL,
                    "at": now,
                }
                for mid in ids
            ],
        )
    return ids


def pause(
    session: Session, org_id: int, campaign_id: int, *, actor: str, now: datetime | None = None
) -> Campaign:
    """Hold every text the dispatcher has not handed over; Conflict when not running."""
    now = now or utcnow()
    campaign = locked(session, org_id, campaign_id)
    _check(session, campaign, rules.Action.PAUSE, now)
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
    _check(session, campaign, rules.Action.RESUME, now)
    org = get_org(session, org_id)
    at = max(now, campaign.send_at) if campaign.send_at is not None else now
    window = WindowMemo(at, send_window(org), org.timezone)
    rows = session.execute(
        select(Message.id, CampaignRecipient.planned_at, Patient.phone, Patient.timezone)
        .join(CampaignRecipient, CampaignRecipient.message_id == Message.id)
        .join(Patient, Patient.id == Message.patient_id)
        .where(
            Message.campaign_id == campaign.id,
            Message.organization_id == org_id,
            CampaignRecipient.campaign_id == campaign.id,
            Message.status.in_(_DUE),
            Message.due_at.is_(None),
        )
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
    for due, ids in groups.items():
        for start in range(0, len(ids), CHUNK):
            session.execute(
                update(Message)
                .where(Message.id.in_(ids[start : start + CHUNK]), Message.due_at.is_(None))
                .values(due_at=due, updated_at=now)
                .execution_options(synchronize_session=False)
            )
    for mid, why in never:
        _cancel_ids(session, campaign, [mid], now, f"canceled: {why}")
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
        session.execute(
            insert(MessageEvent),
            [
                {
                    "organization_id": campaign.organization_id,
                    "message_id": mid,
                    "status": Status.CANCELED.value,
                    "detail": why,
                    "at": now,
                }
                for mid in ids
            ],
        )
    return len(ids)


def cancel(
    session: Session, org_id: int, campaign_id: int, *, actor: str, now: datetime | None = None
) -> Campaign:
    """Cancel every text not yet handed to the provider; Conflict when nothing can be."""
    now = now or utcnow()
    campaign = locked(session, org_id, campaign_id)
    _check(session, campaign, rules.Action.CANCEL, now)
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
