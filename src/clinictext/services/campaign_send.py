"""Starting a campaign: every text of it written at once.

Start writes, in one transaction, a row for every patient of the audience (the text written
for them, or why they were skipped) and every text with its first status event and its
commlog, exactly as ``services.sending.send`` writes one staff text (kind ``campaign``, the
bulk lane, ``queued`` or ``scheduled`` for the send window and the send time), but with one
multi-row INSERT per table instead of 100,000 ORM objects.

Pausing, resuming and canceling are ``services.campaign_hold``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, text
from sqlalchemy.orm import Session

from clinictext.domain import campaigns as rules
from clinictext.domain.bulk import SegmentMemo
from clinictext.domain.statuses import Status
from clinictext.services import audit
from clinictext.services.campaign_audience import Evaluation, Recipient, evaluate
from clinictext.services.campaign_bulk import allocate_ids, insert_rows
from clinictext.services.campaign_rows import (
    audience_of,
    channel_of,
    locked,
    status_of,
    template_of,
)
from clinictext.services.clock import utcnow
from clinictext.services.errors import Conflict
from clinictext.services.sending import LANE_BULK
from clinictext.store.models import (
    Campaign,
    CampaignRecipient,
    Commlog,
    Message,
    MessageEvent,
)

KIND = "campaign"
CHUNK = 5_000  # ids a statement (under both databases' bound-parameter limits)
MESSAGES: Table = Message.__table__  # type: ignore[assignment]
EVENTS: Table = MessageEvent.__table__  # type: ignore[assignment]
COMMLOGS: Table = Commlog.__table__  # type: ignore[assignment]
RECIPIENTS: Table = CampaignRecipient.__table__  # type: ignore[assignment]


def refused(err: rules.Refused) -> Conflict:
    return Conflict(err.message, code=err.code)


def check_action(session: Session, campaign: Campaign, action: rules.Action, now: datetime) -> None:
    try:
        rules.check(action, status_of(session, campaign, now))
    except rules.Refused as err:
        raise refused(err) from None


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


MESSAGE_COLUMNS = (
    "id",
    "organization_id",
    "patient_id",
    "campaign_id",
    "sender_number_id",
    "direction",
    "kind",
    "channel",
    "lane",
    "body",
    "encoding",
    "segments",
    "cost_micros",
    "to_phone",
    "from_phone",
    "status",
    "due_at",
    "attempts",
    "created_by",
    "created_at",
    "updated_at",
)
EVENT_COLUMNS = ("organization_id", "message_id", "status", "detail", "at")
COMMLOG_COLUMNS = ("organization_id", "patient_id", "message_id", "direction", "kind", "at")
RECIPIENT_COLUMNS = (
    "organization_id",
    "campaign_id",
    "patient_id",
    "skip_reason",
    "skip_checks",
    "message_id",
)


def _derived(session: Session, table: Table, columns: str, select_sql: str, cid: int) -> None:
    """INSERT rows the database derives from the campaign's texts, in one statement."""
    session.execute(
        text(f"INSERT INTO {table.name} ({columns}) {select_sql}"), {"campaign_id": cid}
    )


def write_texts(
    session: Session, campaign: Campaign, evaluation: Evaluation, actor: str, now: datetime
) -> None:
    """Insert every recipient's text, its first status event and its commlog.

    The rows are those ``services.sending.send`` writes for a campaign text (kind
    ``campaign``, the bulk lane, ``scheduled`` when held, with the hold's reason as the
    first event's detail), with the campaign's id. The texts go from here; the events of
    texts that go now (no detail) and the commlogs are copied from them by the database.
    """
    org, sender = evaluation.org, evaluation.sender
    recipients = evaluation.recipients
    if not recipients:
        return
    assert sender is not None  # the sender_number check passed for every recipient
    ids = allocate_ids(session, MESSAGES, len(recipients))
    segments = SegmentMemo()
    org_id, price, zone = org.id, org.segment_price_micros, org.timezone
    campaign_id, sender_id, from_phone = campaign.id, sender.id, sender.number
    channel = evaluation.channel.value
    scheduled, queued = Status.SCHEDULED.value, Status.QUEUED.value
    reasons: dict[int, str | None] = {}  # placements are shared: one sentence each
    messages: list[tuple[Any, ...]] = []
    held: list[tuple[Any, ...]] = []
    for mid, r in zip(ids, recipients, strict=True):
        info = segments.count(r.body)
        due = r.placement.send_at
        key = id(r.placement)
        if key not in reasons:
            reasons[key] = _hold_reason(r, now, evaluation.at, zone)
        if due > now:
            status = scheduled
            held.append((org_id, mid, status, reasons[key], now))
        else:
            status = queued
        messages.append(
            (
                mid,
                org_id,
                r.patient.id,
                campaign_id,
                sender_id,
                "outbound",
                KIND,
                channel,
                LANE_BULK,
                r.body,
                info.encoding,
                info.segments,
                info.segments * price,
                r.patient.phone,
                from_phone,
                status,
                due,
                0,
                actor,
                now,
                now,
            )
        )
    insert_rows(session, MESSAGES, MESSAGE_COLUMNS, messages)
    insert_rows(session, EVENTS, EVENT_COLUMNS, held)
    _derived(
        session,
        EVENTS,
        ", ".join(EVENT_COLUMNS),
        "SELECT organization_id, id, status, NULL, created_at FROM messages "
        f"WHERE campaign_id = :campaign_id AND status = '{queued}'",
        campaign_id,
    )
    _derived(
        session,
        COMMLOGS,
        ", ".join(COMMLOG_COLUMNS),
        "SELECT organization_id, patient_id, id, direction, kind, created_at FROM messages "
        "WHERE campaign_id = :campaign_id",
        campaign_id,
    )


def _write_recipients(session: Session, campaign: Campaign, evaluation: Evaluation) -> None:
    """One row a patient of the audience: the text written for them, or why they were skipped."""
    _derived(
        session,
        RECIPIENTS,
        "organization_id, campaign_id, patient_id, message_id",
        "SELECT organization_id, campaign_id, patient_id, id FROM messages "
        "WHERE campaign_id = :campaign_id",
        campaign.id,
    )
    org_id, campaign_id = campaign.organization_id, campaign.id
    rows = [
        (org_id, campaign_id, s.patient.id, s.reasons[0], list(s.reasons), None)
        for s in evaluation.skipped
    ]
    insert_rows(session, RECIPIENTS, RECIPIENT_COLUMNS, rows)


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
    check_action(session, campaign, rules.Action.START, now)
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
    write_texts(session, campaign, evaluation, actor, now)
    _write_recipients(session, campaign, evaluation)
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
