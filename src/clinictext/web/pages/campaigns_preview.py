"""The preview the wizard and a draft's page show: how many patients get the text, how many
are skipped and why, and a page of the skipped patients with every failing check.

It asks ``services.campaign_audience.evaluate``, the very question ``campaigns.create`` and
``campaigns.start`` ask, without saving anything, so what the wizard promises is what the
start does (unless consent changes in between: the start asks again). The one thing added
here is wording: the checklist has one ``consent`` check, and staff act differently on a
patient who opted out (only the patient can undo it) than on one never asked, so the
counts say them apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from clinictext.domain.audience import Audience
from clinictext.domain.campaigns import skip_label
from clinictext.domain.checklist import Channel
from clinictext.domain.consent import ConsentState
from clinictext.services.campaign_audience import Judge, Skip, evaluate
from clinictext.store.models import Template
from clinictext.web.pages import campaigns_view as words

PAGE = 50
CONSENT = "consent"
OPTED_OUT = "opted_out"
NOT_OPTED_IN = "not_opted_in"


@dataclass
class PreviewView:
    recipients: int
    skipped: int
    reasons: list[words.Reason]
    skipped_rows: list[dict[str, Any]] = field(default_factory=list)
    cursor: str = ""
    next_cursor: str | None = None
    page_size: int = PAGE

    @property
    def audience(self) -> int:
        return self.recipients + self.skipped

    @property
    def recipients_words(self) -> str:
        n = self.recipients
        if n == 0:
            return "No patient will receive it"
        return f"{words.patients(n)} will receive it"

    @property
    def skipped_words(self) -> str:
        n = self.skipped
        if n == 0:
            return "nobody is skipped"
        return f"{words.number(n)} {'is' if n == 1 else 'are'} skipped"


def _opted_out(skip: Skip) -> bool:
    return CONSENT in skip.reasons and skip.patient.consent.state is ConsentState.OPTED_OUT


def _reason(check_id: str, skip: Skip) -> str:
    if check_id != CONSENT:
        return check_id
    return OPTED_OUT if _opted_out(skip) else NOT_OPTED_IN


def preview(
    session: Session,
    org_id: int,
    template: Template,
    audience: Audience,
    channel: Channel,
    *,
    now: datetime,
    send_at: datetime | None = None,
    after: int = 0,
    limit: int = PAGE,
) -> PreviewView:
    """The preview now, with the skipped patients whose id is above ``after`` (a page)."""
    evaluation = evaluate(session, org_id, template, audience, channel, now=now, send_at=send_at)
    counts = dict(evaluation.preview.skip_reasons)
    without = counts.pop(CONSENT, 0)
    opted_out = sum(1 for s in evaluation.skipped if _opted_out(s))
    counts[OPTED_OUT] = opted_out
    counts[NOT_OPTED_IN] = without - opted_out
    page = [s for s in evaluation.skipped if s.patient.id > after][: limit + 1]
    more = len(page) > limit
    page = page[:limit]
    rows: list[dict[str, Any]] = []
    if page:
        judge = Judge(session, org_id, template, channel, now, evaluation.at)
        for skip, checks in zip(page, judge.explain(page), strict=True):
            rows.append(
                {
                    "patient_id": skip.patient.id,
                    "name": skip.patient.name or f"Patient {skip.patient.id}",
                    "checks": [
                        {
                            "word": skip_label(_reason(c.id, skip)),
                            "detail": c.detail,
                            "fix": c.fix,
                        }
                        for c in checks
                    ],
                }
            )
    return PreviewView(
        recipients=len(evaluation.recipients),
        skipped=len(evaluation.skipped),
        reasons=words.reasons(counts),
        skipped_rows=rows,
        cursor=str(after) if after else "",
        next_cursor=str(page[-1].patient.id) if more and page else None,
        page_size=limit,
    )
