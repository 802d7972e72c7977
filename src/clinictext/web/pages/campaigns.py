"""The campaigns pages: the list (``/campaigns``), the wizard (``campaigns_wizard``) and a
campaign's page (``/campaigns/{id}``) with its live progress, Pause / Resume / Cancel and the
per-recipient report, downloadable as CSV.

Every action calls the same service as ``POST /api/v1/campaigns/{id}/start|pause|resume|
cancel``, and the CSV is the service's ``recipients_csv``, as the API's download is.

Live progress is polled, not streamed: the progress part asks again every 2 s while
anything can still change (texts waiting to go, or sent and not yet confirmed), and the
answer is a 204 when nothing did, so nothing on the page moves. One grouped query on the
campaign's index, for the one page that shows it, is cheaper than adding a campaign topic
to the server-sent events that every open page of every user computes each second; and
polling stops by itself once the campaign has ended.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from clinictext.api.deps import SessionDep
from clinictext.api.schemas import MAX_ID
from clinictext.domain import campaigns as rules
from clinictext.services import campaigns
from clinictext.services.campaign_rows import template_of
from clinictext.services.clock import utcnow
from clinictext.services.conversation_view import actor_names
from clinictext.services.errors import ServiceError
from clinictext.services.orgs import get_org
from clinictext.web.access import Staff, StaffPage
from clinictext.web.forms import refusal
from clinictext.web.pages import campaigns_view as words
from clinictext.web.pages import campaigns_wizard
from clinictext.web.pages.campaigns_preview import preview
from clinictext.web.render import html

router = APIRouter(include_in_schema=False)
# The wizard first, so /campaigns/new is not read as /campaigns/{campaign_id}.
router.include_router(campaigns_wizard.router)

CampaignId = Annotated[int, Path(ge=1, le=MAX_ID)]
Cursor = Annotated[str, Query(max_length=20)]
LIST_PAGE = 50
REPORT_PAGE = 50

ACTIONS = {
    rules.Action.START: (
        "Start campaign",
        "primary",
        "Checks every patient again (consent may have changed) and writes every text.",
    ),
    rules.Action.PAUSE: (
        "Pause",
        "",
        "Holds every text not yet handed to the provider until you resume.",
    ),
    rules.Action.RESUME: (
        "Resume",
        "primary",
        "Texts go out again; a text whose time passed waits for the patient's send window.",
    ),
    rules.Action.CANCEL: (
        "Cancel campaign",
        "danger",
        "Cancels every text not yet handed to the provider. Asks you to confirm first.",
    ),
}
DONE_WORDS = {
    "started": "Started.",
    "saved": "Saved as a draft. Nothing is sent until you start it.",
    "start": "Started.",
    "pause": "Paused. No more texts go out until you resume.",
    "resume": "Resumed. The held texts go out again.",
    "cancel": "Canceled. Every text not yet handed to the provider is canceled.",
}
PROGRESSED = {"HX-Trigger": "campaign-progress"}
CHANNEL_WORDS = {"lead": "The lead number", "clinic": "The clinic number"}


def _digits(text: str) -> int:
    return int(text) if text.isdecimal() and len(text) < 19 else 0


def _filter(status: str) -> str:
    return status if status in dict(words.REPORT_FILTERS) else ""


# --- what the page shows -------------------------------------------------------------------------


def _view(session: Session, org_id: int, campaign_id: int) -> dict[str, Any]:
    """The campaign as the page shows it: facts, status in words, the actions that apply."""
    campaign = campaigns.get(session, org_id, campaign_id)
    d = campaigns.described(session, campaign, utcnow())
    tz = get_org(session, org_id).timezone
    status = rules.CampaignStatus(d["status"])
    counts = d["counts"]
    actions = []
    for action, (label, tone, hint) in ACTIONS.items():
        try:
            rules.check(action, status)
        except rules.Refused:
            continue
        actions.append({"name": action.value, "label": label, "tone": tone, "hint": hint})
    waiting = sum(int(counts.get(s, 0)) for s in ("scheduled", "queued"))
    if status is rules.CampaignStatus.DRAFT:
        cancel_effect = "The draft is closed and nothing is sent."
    else:
        cancel_effect = (
            f"{words.number(waiting)} text{'' if waiting == 1 else 's'} not yet handed to the "
            "provider will be canceled; texts already sent stay sent."
        )
    creator = actor_names(session, org_id, [campaign.created_by]).get(campaign.created_by, "")
    return {
        "c": {
            "id": campaign.id,
            "name": campaign.name,
            "status": status.value,
            "status_word": words.status_word(status.value),
            "tone": words.STATUS_TONES.get(status.value, "tone-muted"),
            "status_meaning": words.STATUS_MEANINGS.get(status.value, ""),
            "audience_words": words.audience_words(d["audience"]),
            "template_name": template_of(session, campaign).name,
            "channel_word": CHANNEL_WORDS.get(d["channel"], d["channel"]),
            "send_time": words.send_time(campaign.send_at, tz, campaign.started_at),
            "created_at": campaign.created_at,
            "created_by": creator,
            "started_at": campaign.started_at,
            "actions": actions,
            "cancel_effect": cancel_effect,
            "no_actions": (
                "This campaign was canceled: nothing more is sent."
                if status is rules.CampaignStatus.CANCELED
                else "This campaign has finished: there is nothing left to pause or cancel."
            ),
        },
        "p": words.progress(status.value, counts),
        "tz": tz,
        "campaign": campaign,
    }


def _report(
    session: Session, org_id: int, campaign_id: int, status: str, cursor: str
) -> dict[str, Any]:
    """A page of the per-recipient report, with the reason of each skipped or failed text."""
    status = _filter(status)
    after = str(_digits(cursor)) if _digits(cursor) else None
    page = campaigns.recipients(
        session, org_id, campaign_id, status=status or None, limit=REPORT_PAGE, cursor=after
    )
    rows = []
    for item in page.items:
        checks = item["skip_checks"] or []
        # One sentence a failing check of a skipped patient; else why the text failed.
        reasons = [rules.SKIP_SUMMARY.get(c, rules.skip_label(c)) for c in checks]
        if not checks and item["detail"]:
            reasons.append(item["detail"])
        rows.append(
            {
                "patient_id": item["patient_id"],
                "name": item["patient_name"] or f"Patient {item['patient_id']}",
                "word": words.recipient_word(item["status"]),
                "tone": words.RECIPIENT_TONES.get(item["status"], "tone-muted"),
                "reasons": reasons,
            }
        )
    base = {"status": status} if status else {}
    return {
        "rows": rows,
        "status": status,
        "status_word": dict(words.REPORT_FILTERS).get(status, ""),
        "filters": words.REPORT_FILTERS,
        "cursor": after or "",
        "next_cursor": page.next_cursor,
        "this_query": urlencode({**base, "cursor": after} if after else base),
        "first_query": urlencode(base),
        "next_query": urlencode({**base, "cursor": page.next_cursor or ""}),
        "page_size": REPORT_PAGE,
        "empty": (
            f"No recipient is {dict(words.REPORT_FILTERS).get(status, status).lower()}."
            if status
            else "No recipients yet."
        ),
    }


def _page_context(
    session: Session,
    org_id: int,
    campaign_id: int,
    *,
    status: str = "",
    cursor: str = "",
    skipped_after: str = "",
) -> dict[str, Any]:
    context = _view(session, org_id, campaign_id)
    campaign = context.pop("campaign")
    context["active"] = "campaigns"
    if campaign.started_at is None:
        context["preview"] = preview(
            session,
            org_id,
            template_of(session, campaign),
            campaigns.audience_of(campaign),
            campaigns.channel_of(campaign),
            now=utcnow(),
            send_at=campaign.send_at,
            after=_digits(skipped_after),
        )
        context["preview_link"] = f"/campaigns/{campaign.id}"
        context["report"] = None
    else:
        context["preview"] = None
        context["report"] = _report(session, org_id, campaign_id, status, cursor)
    return context


# --- the routes ----------------------------------------------------------------------------------


@router.get("/campaigns", response_class=HTMLResponse)
def campaigns_page(
    request: Request, user: StaffPage, session: SessionDep, cursor: Cursor = ""
) -> HTMLResponse:
    """Every campaign, newest first, with its status and progress."""
    after = str(_digits(cursor)) if _digits(cursor) else None
    page = campaigns.list_campaigns(session, user.org_id, limit=LIST_PAGE, cursor=after)
    tz = get_org(session, user.org_id).timezone
    rows = []
    for d in campaigns.described_all(session, page.items, utcnow()):
        counts = d["counts"]
        if d["status"] == "draft":
            texts, skipped = int(counts.get("recipients", 0)), int(counts.get("skipped", 0))
            progress = f"Not started: {words.patients(texts)} would receive it"
            progress += f"; {words.number(skipped)} skipped" if skipped else ""
        else:
            progress = words.progress_line(counts)
        rows.append(
            {
                "id": d["id"],
                "name": d["name"],
                "status_word": words.status_word(d["status"]),
                "tone": words.STATUS_TONES.get(d["status"], "tone-muted"),
                "progress": progress,
                "created_at": d["created_at"],
                "send_time": words.send_time(d["send_at"], tz, d["started_at"], short=True),
            }
        )
    context = {"active": "campaigns", "rows": rows, "tz": tz, "next_cursor": page.next_cursor}
    return html(request, "campaigns.html", context)


@router.get("/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(
    request: Request,
    user: StaffPage,
    session: SessionDep,
    campaign_id: CampaignId,
    status: Annotated[str, Query(max_length=20)] = "",
    cursor: Cursor = "",
    skipped_after: Cursor = "",
    done: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    """One campaign: its facts, live progress, the actions that apply, and who got it."""
    context = _page_context(
        session, user.org_id, campaign_id, status=status, cursor=cursor, skipped_after=skipped_after
    )
    context["result"] = DONE_WORDS.get(done)
    context["result_ok"] = True
    return html(request, "campaigns_detail.html", context)


@router.get("/campaigns/{campaign_id}/progress", response_model=None)
def progress_part(
    request: Request,
    user: Staff,
    session: SessionDep,
    campaign_id: CampaignId,
    seen: Annotated[str, Query(max_length=200)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """The live counts again; 204 when nothing changed since ``seen``."""
    context = _view(session, user.org_id, campaign_id)
    if context["p"].seen == seen:
        return Response(status_code=204)
    context["oob_status"] = context["c"]["status"] != status
    # The report's table refreshes itself on this event, keeping its filter and page.
    return html(request, "_campaigns_progress_part.html", context, headers=PROGRESSED)


@router.get("/campaigns/{campaign_id}/actions", response_class=HTMLResponse)
def actions_part(
    request: Request, user: Staff, session: SessionDep, campaign_id: CampaignId
) -> HTMLResponse:
    """The actions again (after "No, keep it")."""
    return html(request, "_campaigns_actions.html", _view(session, user.org_id, campaign_id))


@router.get("/campaigns/{campaign_id}/report", response_class=HTMLResponse)
def report_part(
    request: Request,
    user: Staff,
    session: SessionDep,
    campaign_id: CampaignId,
    status: Annotated[str, Query(max_length=20)] = "",
    cursor: Cursor = "",
) -> HTMLResponse:
    """A page of the per-recipient report's table, filtered by status."""
    context = _view(session, user.org_id, campaign_id)
    context["report"] = _report(session, user.org_id, campaign_id, status, cursor)
    return html(request, "_campaigns_report_table.html", context)


@router.get("/campaigns/{campaign_id}/report.csv", response_model=None)
def report_csv(user: Staff, session: SessionDep, campaign_id: CampaignId) -> Response:
    """The whole per-recipient report as a CSV file (the API's CSV, for a signed-in user)."""
    body = "".join(campaigns.recipients_csv(session, user.org_id, campaign_id))
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="campaign-{campaign_id}-recipients.csv"'
        },
    )


@router.post("/campaigns/{campaign_id}/{action}", response_model=None)
def act(
    request: Request,
    user: StaffPage,
    session: SessionDep,
    campaign_id: CampaignId,
    action: rules.Action,
    confirm: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Start, pause, resume or cancel; Cancel asks first. A refusal says why, changing nothing."""
    htmx = bool(request.headers.get("hx-request"))
    if action is rules.Action.CANCEL and confirm != "yes":
        context = _view(session, user.org_id, campaign_id)
        context["confirm_cancel"] = True
        if htmx:
            return html(request, "_campaigns_actions.html", context)
        context = _page_context(session, user.org_id, campaign_id)
        context.update(confirm_cancel=True, result=None, result_ok=True)
        return html(request, "campaigns_detail.html", context)
    try:
        campaigns.act(session, user.org_id, campaign_id, action, actor=user.actor)
    except ServiceError as err:
        if err.status == 404:
            raise
        refused = refusal(session, err)
        message = next(iter(refused.errors.values()))
        return _answer(
            request, session, user.org_id, campaign_id, message, ok=False, status=refused.status
        )
    if not htmx:
        return RedirectResponse(f"/campaigns/{campaign_id}?done={action.value}", status_code=303)
    return _answer(request, session, user.org_id, campaign_id, DONE_WORDS[action.value])


def _answer(
    request: Request,
    session: Session,
    org_id: int,
    campaign_id: int,
    result: str,
    *,
    ok: bool = True,
    status: int = 200,
) -> HTMLResponse:
    """An action's answer: the whole page, or (htmx) the actions with the result, the status
    and the progress out of band."""
    if request.headers.get("hx-request"):
        context = _view(session, org_id, campaign_id)
        context.update(result=result, result_ok=ok, oob_status=True)
        return html(request, "_campaigns_acted.html", context, status=status, headers=PROGRESSED)
    context = _page_context(session, org_id, campaign_id)
    context.update(result=result, result_ok=ok)
    return html(request, "campaigns_detail.html", context, status=status)
