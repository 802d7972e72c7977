"""What a campaign shows: its progress counts, its per-recipient report and its skipped
patients with every failing check.

Counts come from one grouped query over the campaign's texts by status (the
``ix_messages_campaign`` index) and one count of its skipped recipients; the report pages
through the recipient rows by patient id (their unique index), joined to the text and the
patient.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clinictext.domain import campaigns as rules
from clinictext.domain.carrier_errors import lookup
from clinictext.domain.checklist import Check
from clinictext.domain.statuses import Status
from clinictext.services.campaign_audience import Judge, Skip, evaluate, patients_by_id
from clinictext.services.campaign_rows import (
    audience_of,
    by_status,
    channel_of,
    current_status,
    get,
    template_of,
)
from clinictext.services.clock import utcnow
from clinictext.services.errors import Invalid
from clinictext.services.patients import Page, parse_cursor
from clinictext.store.models import Campaign, CampaignRecipient, Message, Patient

REPORT_PAGE = 5_000  # recipient rows a query while writing the CSV report


def skipped_counts(session: Session, campaign_ids: Sequence[int]) -> dict[int, int]:
    if not campaign_ids:
        return {}
    rows = session.execute(
        select(CampaignRecipient.campaign_id, func.count())
        .where(
            CampaignRecipient.campaign_id.in_(sorted(set(campaign_ids))),
            CampaignRecipient.skip_reason.is_not(None),
        )
        .group_by(CampaignRecipient.campaign_id)
    )
    return {cid: int(n) for cid, n in rows}


def _counts(campaign: Campaign, statuses: Mapping[str, int], skipped: int) -> dict[str, int]:
    if campaign.started_at is None:  # not started: what the preview expects
        preview = campaign.preview or {}
        counts = rules.progress({}, int(preview.get("skipped", 0)))
        counts["recipients"] = int(preview.get("recipients", 0))
        return counts
    return rules.progress(statuses, skipped)


def counts(session: Session, campaign: Campaign) -> dict[str, int]:
    """The progress counts: recipients, skipped, and the texts by status."""
    statuses = by_status(session, [campaign.id])[campaign.id]
    return _counts(campaign, statuses, skipped_counts(session, [campaign.id]).get(campaign.id, 0))


def _described(
    campaign: Campaign, statuses: Mapping[str, int], skipped: int, now: datetime
) -> dict[str, Any]:
    audience = audience_of(campaign)
    return {
        "id": campaign.id,
        "name": campaign.name,
        "status": current_status(campaign, statuses, now).value,
        "template_id": campaign.template_id,
        "channel": channel_of(campaign).value,
        "audience": audience.as_json(),
        "audience_description": audience.describe(),
        "send_at": campaign.send_at,
        "preview": campaign.preview or {"recipients": 0, "skipped": 0, "skip_reasons": {}},
        "counts": _counts(campaign, statuses, skipped),
        "created_by": campaign.created_by,
        "created_at": campaign.created_at,
        "started_at": campaign.started_at,
        "updated_at": campaign.updated_at,
    }


def described(session: Session, campaign: Campaign, now: datetime | None = None) -> dict[str, Any]:
    """The API's (and the pages') shape of a campaign, with its status and counts now."""
    return described_all(session, [campaign], now)[0]


def described_all(
    session: Session, campaigns: Sequence[Campaign], now: datetime | None = None
) -> list[dict[str, Any]]:
    """``described`` for many campaigns in two queries however many."""
    now = now or utcnow()
    started = [c.id for c in campaigns if c.started_at is not None]
    statuses = by_status(session, started)
    skipped = skipped_counts(session, started)
    return [_described(c, statuses.get(c.id, {}), skipped.get(c.id, 0), now) for c in campaigns]


# --- the per-recipient report -----------------------------------------------------------------


def _detail(
    skip_reason: str | None, status: str | None, code: str | None, error: str | None
) -> str | None:
    if skip_reason is not None:
        return rules.SKIP_SUMMARY.get(skip_reason, skip_reason)
    if status in (Status.FAILED.value, Status.UNDELIVERED.value):
        entry = lookup(code)
        meaning = entry.meaning if entry else (error or "the text was not delivered")
        return f"Failed: {meaning}" + (f" ({code})." if code else ".")
    if status == Status.CANCELED.value:
        return (error or "Canceled before it was handed to the provider.").rstrip(".") + "."
    return None


def _report_query(campaign: Campaign, status: str | None) -> Any:
    query = (
        select(
            CampaignRecipient.patient_id,
            CampaignRecipient.skip_reason,
            CampaignRecipient.skip_checks,
            CampaignRecipient.message_id,
            Message.status,
            Message.error_code,
            Message.error_message,
            Patient.first_name,
            Patient.last_name,
        )
        .join(Patient, Patient.id == CampaignRecipient.patient_id)
        .outerjoin(Message, Message.id == CampaignRecipient.message_id)
        .where(
            CampaignRecipient.campaign_id == campaign.id,
            CampaignRecipient.organization_id == campaign.organization_id,
        )
    )
    if status == rules.SKIPPED:
        query = query.where(CampaignRecipient.skip_reason.is_not(None))
    elif status is not None:
        query = query.where(Message.status.in_(rules.FILTER_STATUSES[status]))
    return query.order_by(CampaignRecipient.patient_id)


def _row(r: Any) -> dict[str, Any]:
    return {
        "patient_id": r.patient_id,
        "patient_name": f"{r.first_name} {r.last_name}".strip(),
        "status": rules.recipient_status(r.skip_reason, r.status),
        "skip_reason": r.skip_reason,
        "skip_checks": list(r.skip_checks) if r.skip_checks else None,
        "message_id": r.message_id,
        "error_code": r.error_code,
        "detail": _detail(r.skip_reason, r.status, r.error_code, r.error_message),
    }


def check_status(status: str | None) -> None:
    if status is not None and status not in rules.FILTER_STATUSES:
        raise Invalid(
            f"'{status[:30]}' is not a recipient status: use one of "
            f"{', '.join(rules.RECIPIENT_STATUSES)}.",
            code="invalid_status",
            field="status",
        )


def recipients(
    session: Session,
    org_id: int,
    campaign_id: int,
    *,
    status: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page:
    """The report a page at a time, by patient id: who got the text, who did not and why.

    ``status`` filters: ``skipped`` or a text status ("failed" takes undelivered texts too).
    A campaign that has not started has no recipients yet (its preview says who it would).
    """
    campaign = get(session, org_id, campaign_id)
    check_status(status)
    query = _report_query(campaign, status)
    after = parse_cursor(cursor)
    if after is not None:
        query = query.where(CampaignRecipient.patient_id > after)
    rows = [_row(r) for r in session.execute(query.limit(limit + 1))]
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, str(rows[-1]["patient_id"]) if more else None)


CSV_COLUMNS = (
    "patient_id",
    "patient_name",
    "status",
    "skip_reason",
    "skip_checks",
    "message_id",
    "error_code",
    "detail",
)


def _cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: a leading = + - @ would be read as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def recipients_csv(session: Session, org_id: int, campaign_id: int) -> Iterator[str]:
    """The whole report as CSV text, a chunk of lines at a time, header first."""
    campaign = get(session, org_id, campaign_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    after = 0
    while True:
        query = _report_query(campaign, None).where(CampaignRecipient.patient_id > after)
        rows = [_row(r) for r in session.execute(query.limit(REPORT_PAGE))]
        for row in rows:
            row["skip_checks"] = ";".join(row["skip_checks"] or [])
            writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        if len(rows) < REPORT_PAGE:
            return
        after = rows[-1]["patient_id"]


# --- the skipped patients, with every failing check ------------------------------------------


def _check_out(check: Check) -> dict[str, Any]:
    return {"id": check.id, "ok": check.ok, "detail": check.detail, "fix": check.fix}


def skipped_preview(
    session: Session,
    org_id: int,
    campaign_id: int,
    *,
    limit: int = 50,
    cursor: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The preview's counts and a page of skipped patients, each with every failing check.

    A draft is judged now (the same checklist as its start); a started campaign shows whom
    it skipped when it started, with the checks as they stand now.
    """
    now = now or utcnow()
    campaign = get(session, org_id, campaign_id)
    after = parse_cursor(cursor) or 0
    template = template_of(session, campaign)
    if campaign.started_at is None:
        evaluation = evaluate(
            session,
            org_id,
            template,
            audience_of(campaign),
            channel_of(campaign),
            now=now,
            send_at=campaign.send_at,
        )
        counts = evaluation.preview.as_json()
        page = [s for s in evaluation.skipped if s.patient.id > after][: limit + 1]
        judge = Judge(session, org_id, template, channel_of(campaign), now, evaluation.at)
    else:
        counts = dict(campaign.preview or {})
        judge = Judge(session, org_id, template, channel_of(campaign), now, now)
        rows = session.execute(
            select(CampaignRecipient.patient_id, CampaignRecipient.skip_checks)
            .where(
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.skip_reason.is_not(None),
                CampaignRecipient.patient_id > after,
            )
            .order_by(CampaignRecipient.patient_id)
            .limit(limit + 1)
        ).all()
        reasons = {pid: tuple(checks or ()) for pid, checks in rows}
        patients = patients_by_id(session, org_id, list(reasons))
        page = [Skip(p, reasons[p.id]) for p in patients]
    more = len(page) > limit
    page = page[:limit]
    shown = []
    for skip, checks in zip(page, judge.explain(page), strict=True):
        shown.append(
            {
                "patient_id": skip.patient.id,
                "patient_name": skip.patient.name,
                "skip_reason": skip.reasons[0],
                "skip_checks": list(skip.reasons),
                "checks": [_check_out(c) for c in checks],
            }
        )
    return {
        **counts,
        "patients": shown,
        "next_cursor": str(page[-1].patient.id) if more and page else None,
    }
