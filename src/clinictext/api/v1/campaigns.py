"""`/campaigns`: create one with its preview, start, pause, resume, cancel, and its report.

A campaign is created as a draft with a preview (how many of its audience would get the
text, how many are skipped and why); ``/preview`` lists the skipped patients with every
failing check. ``/recipients`` (and ``/recipients.csv``) is the per-recipient report once it
has started. Refused actions answer 409 with the reason (start twice, resume a running one,
anything after cancel).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from clinictext.api.deps import CallerDep, SessionDep
from clinictext.api.schemas import MAX_ID, ChannelName, Id, Language, NoNul, Request
from clinictext.domain import campaigns as rules
from clinictext.domain.audience import MAX_PATIENT_IDS
from clinictext.domain.checklist import Channel
from clinictext.services import campaigns
from clinictext.services.clock import utcnow

router = APIRouter(tags=["campaigns"])

CampaignId = Annotated[int, Path(ge=1, le=MAX_ID, description="The campaign's id.")]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=20)]
CampaignName = Annotated[str, Field(strict=True, min_length=1, max_length=200), NoNul]
LeadStageName = Literal["open", "in_progress", "closed_won", "closed_lost"]
StatusName = Literal["draft", "scheduled", "running", "paused", "canceled", "done"]
RecipientStatus = Literal[
    "skipped",
    "scheduled",
    "queued",
    "sending",
    "sent",
    "delivered",
    "undelivered",
    "failed",
    "canceled",
]
SendAt = Annotated[
    str,
    Field(
        strict=True,
        min_length=1,
        max_length=40,
        description="ISO 8601 with its offset, e.g. 2026-12-01T09:00:00-05:00; "
        "the texts go out from then on, each inside the send window in the patient's time.",
    ),
    NoNul,
]
# A CSV of patient ids, external ids or phones: under the API's 1 MB body limit.
CsvText = Annotated[str, Field(strict=True, min_length=1, max_length=1_000_000)]


class AudienceIn(Request):
    """Who the campaign is for; the parts given intersect (at least one is needed)."""

    all: Literal[True] | None = Field(None, description="Every patient.")
    lead_stages: list[LeadStageName] | None = Field(None, min_length=1, max_length=4)
    patient_ids: list[Id] | None = Field(None, min_length=1, max_length=MAX_PATIENT_IDS)
    language: Language | None = Field(None, description='Patients of this language, e.g. "es".')


class CampaignIn(Request):
    name: CampaignName
    template_id: Id = Field(description="A template of purpose campaign or general.")
    audience: AudienceIn
    send_at: SendAt | None = None
    channel: ChannelName = Field(
        "lead",
        description="The number it goes out from: lead (the default; campaign and lead "
        "texting share the approved lead number) or clinic.",
    )


class AudienceCsvIn(Request):
    csv: CsvText = Field(
        description="A CSV file's text with a header naming patient_id, external_id or phone."
    )


class PreviewCounts(BaseModel):
    recipients: int
    skipped: int
    skip_reasons: dict[str, int] = Field(
        description="Skipped patients by reason (a check id, or unknown_sender, shared_phone, "
        "body, send_window); a patient with two reasons counts under both."
    )


class Counts(BaseModel):
    recipients: int
    skipped: int
    scheduled: int
    queued: int
    sending: int
    sent: int
    delivered: int
    failed: int = Field(description="Texts labelled Failed: failed and undelivered.")
    canceled: int


class CampaignOut(BaseModel):
    id: int
    name: str
    status: StatusName
    template_id: int
    channel: ChannelName
    audience: dict[str, Any]
    audience_description: str
    send_at: datetime | None
    preview: PreviewCounts
    counts: Counts
    created_by: str
    created_at: datetime
    started_at: datetime | None
    updated_at: datetime


class RecipientOut(BaseModel):
    patient_id: int
    patient_name: str
    status: RecipientStatus
    skip_reason: str | None
    skip_checks: list[str] | None
    message_id: int | None
    error_code: str | None
    detail: str | None


class FailingCheck(BaseModel):
    id: str
    ok: bool
    detail: str
    fix: str | None


class SkippedPatient(BaseModel):
    patient_id: int
    patient_name: str
    skip_reason: str
    skip_checks: list[str]
    checks: list[FailingCheck]


class SkippedPreviewOut(PreviewCounts):
    patients: list[SkippedPatient]
    next_cursor: str | None


class UnmatchedLine(BaseModel):
    line: int
    value: str
    reason: str


class AudienceCsvOut(BaseModel):
    column: Literal["patient_id", "external_id", "phone"]
    patient_ids: list[int]
    unmatched: list[UnmatchedLine]


def _out(session: Any, campaign: Any) -> CampaignOut:
    return CampaignOut.model_validate(campaigns.described(session, campaign, utcnow()))


@router.post("/campaigns", response_model=CampaignOut, status_code=201)
def create_campaign(body: CampaignIn, caller: CallerDep, session: SessionDep) -> CampaignOut:
    """A draft with its preview; 422 names the field to change (``no_recipients`` when no
    patient matches the audience)."""
    campaign = campaigns.create(
        session,
        caller.org_id,
        name=body.name,
        template_id=body.template_id,
        audience=body.audience.model_dump(exclude_none=True),
        send_at=body.send_at,
        channel=Channel(body.channel),
        actor=caller.actor,
    )
    return _out(session, campaign)


@router.get("/campaigns", response_model=list[CampaignOut])
def list_campaigns(
    caller: CallerDep,
    session: SessionDep,
    response: Response,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> list[CampaignOut]:
    """Newest first; ``X-Next-Cursor`` carries the cursor of the next page, if any."""
    page = campaigns.list_campaigns(session, caller.org_id, limit=limit, cursor=cursor)
    if page.next_cursor:
        response.headers["X-Next-Cursor"] = page.next_cursor
    return [
        CampaignOut.model_validate(d)
        for d in campaigns.described_all(session, page.items, utcnow())
    ]


@router.post("/campaigns/audience-csv", response_model=AudienceCsvOut)
def audience_csv(body: AudienceCsvIn, caller: CallerDep, session: SessionDep) -> AudienceCsvOut:
    """The patients a CSV names, for an audience's ``patient_ids``; lines naming no patient
    are listed with their line number and why."""
    found = campaigns.resolve_csv(session, caller.org_id, body.csv)
    return AudienceCsvOut.model_validate(
        {
            "column": found.column,
            "patient_ids": found.patient_ids,
            "unmatched": [u.__dict__ for u in found.unmatched],
        }
    )


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut)
def get_campaign(campaign_id: CampaignId, caller: CallerDep, session: SessionDep) -> CampaignOut:
    """The campaign, its status now and its progress counts."""
    return _out(session, campaigns.get(session, caller.org_id, campaign_id))


def _action(action: rules.Action) -> Any:
    def endpoint(campaign_id: CampaignId, caller: CallerDep, session: SessionDep) -> CampaignOut:
        campaign = campaigns.act(session, caller.org_id, campaign_id, action, actor=caller.actor)
        return _out(session, campaign)

    endpoint.__name__ = f"{action.value}_campaign"
    return endpoint


_DOCS = {
    rules.Action.START: "Run the checklist again and write every text (409 when already "
    "started, canceled, or nobody can receive it).",
    rules.Action.PAUSE: "Hold every text not yet handed to the provider (409 unless "
    "scheduled or running).",
    rules.Action.RESUME: "Send the held texts again, each in the send window (409 unless paused).",
    rules.Action.CANCEL: "Cancel every text not yet handed to the provider (409 when done "
    "or already canceled).",
}
for _act in rules.Action:
    router.add_api_route(
        f"/campaigns/{{campaign_id}}/{_act.value}",
        _action(_act),
        methods=["POST"],
        response_model=CampaignOut,
        summary=f"{_act.value.capitalize()} a campaign",
        description=_DOCS[_act],
    )


@router.post("/campaigns/{campaign_id}/preview", response_model=CampaignOut)
def refresh_preview(campaign_id: CampaignId, caller: CallerDep, session: SessionDep) -> CampaignOut:
    """Run a draft's preview again (consent and patients change since it was created)."""
    campaign = campaigns.refresh_preview(session, caller.org_id, campaign_id, actor=caller.actor)
    return _out(session, campaign)


@router.get("/campaigns/{campaign_id}/preview", response_model=SkippedPreviewOut)
def skipped_preview(
    campaign_id: CampaignId,
    caller: CallerDep,
    session: SessionDep,
    response: Response,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> SkippedPreviewOut:
    """The preview's counts and the skipped patients, each with every failing check.

    A draft is judged now; a started campaign shows whom it skipped when it started.
    """
    found = campaigns.skipped_preview(
        session, caller.org_id, campaign_id, limit=limit, cursor=cursor
    )
    if found["next_cursor"]:
        response.headers["X-Next-Cursor"] = found["next_cursor"]
    return SkippedPreviewOut.model_validate(found)


@router.get("/campaigns/{campaign_id}/recipients", response_model=list[RecipientOut])
def recipients(
    campaign_id: CampaignId,
    caller: CallerDep,
    session: SessionDep,
    response: Response,
    status: RecipientStatus | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> list[RecipientOut]:
    """Who got the text and who did not, and why, by patient id (``X-Next-Cursor``).

    ``status=failed`` also lists undelivered texts (both are labelled Failed).
    """
    page = campaigns.recipients(
        session, caller.org_id, campaign_id, status=status, limit=limit, cursor=cursor
    )
    if page.next_cursor:
        response.headers["X-Next-Cursor"] = page.next_cursor
    return [RecipientOut.model_validate(r) for r in page.items]


@router.get(
    "/campaigns/{campaign_id}/recipients.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "The report as CSV."}},
)
def recipients_csv(campaign_id: CampaignId, caller: CallerDep, session: SessionDep) -> Response:
    """The per-recipient report as a CSV download (every recipient, skipped ones included)."""
    body = "".join(campaigns.recipients_csv(session, caller.org_id, campaign_id))
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}.csv"'},
    )
