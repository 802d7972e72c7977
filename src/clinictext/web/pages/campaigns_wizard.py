"""The new-campaign wizard, ``/campaigns/new``: audience, template, preview, schedule.

Every step is a plain form posted to one route, and the answers so far travel with it as
hidden fields: the server keeps nothing until the campaign is saved, Back and Next keep
what was typed, a reload or a second tab cannot mix two campaigns, and the wizard works
without JavaScript. A CSV file is read once, when it is uploaded (through the same resolver
as the command line's ``--audience-csv``); from then on its patients travel as their ids.

The preview asks the campaign service the same question the start will ask (the checklist
for every patient of the audience) without saving anything; "Save as draft" and "Start
campaign" create the campaign through the service the API uses, and start it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from clinictext.api.deps import SessionDep
from clinictext.domain.checklist import Channel
from clinictext.services import campaigns, templates
from clinictext.services.clock import utcnow
from clinictext.services.errors import ServiceError
from clinictext.services.orgs import get_org
from clinictext.services.web_sessions import SignedIn
from clinictext.web.access import StaffPage
from clinictext.web.forms import refusal
from clinictext.web.pages import campaigns_view as words
from clinictext.web.pages.campaigns_answers import (
    MAX_IDS_TEXT,
    TEMPLATE_PURPOSES,
    Answers,
    CsvReport,
    audience,
    csv_audience,
    read_answers,
    send_at,
    step_of,
    template,
)
from clinictext.web.pages.campaigns_preview import PreviewView, preview
from clinictext.web.render import html

router = APIRouter(include_in_schema=False)

STEPS = {
    "audience": "Audience",
    "template": "Template",
    "preview": "Preview",
    "schedule": "Schedule",
}
ORDER = list(STEPS)
PURPOSE_WORDS = {"campaign": "Campaign", "general": "General"}

Text = Annotated[str, Form(max_length=200)]


# --- rendering a step --------------------------------------------------------------------------


def _template_choices(session: Session, org_id: int) -> list[dict[str, Any]]:
    """The campaign and general templates, each counted as a campaign text would be."""
    org = get_org(session, org_id)
    rows = [
        t
        for purpose in TEMPLATE_PURPOSES
        for t in templates.list_templates(session, org_id, purpose)
    ]
    rows.sort(key=lambda t: (t.name.lower(), t.id))
    choices = []
    for t in rows:
        info = templates.computed(t.body, "campaign", org)
        codes = {f["code"] for f in info["lint"]}
        notes = []
        if "missing_org_name" in codes:
            notes.append(
                f"“{org.name}: ” will be added at the start: the text does not name the clinic."
            )
        if "missing_opt_out" in codes:
            notes.append(
                "“Reply STOP to opt out.” will be added at the end: the text does not say "
                "how to stop."
            )
        notes.extend(
            f["message"]
            for f in info["lint"]
            if f["code"] not in ("missing_org_name", "missing_opt_out")
            and f["severity"] in ("warning", "block")
        )
        choices.append(
            {
                "id": t.id,
                "name": t.name,
                "purpose_word": PURPOSE_WORDS.get(t.purpose, t.purpose),
                "body": t.body,
                "fields_words": ", ".join(f"[{f}]" for f in info["fields"]) or "none",
                "encoding": info["encoding"],
                "segments_max": info["segments_max"],
                "notes": notes,
                "variants": ", ".join(
                    words.LANGUAGE_WORDS.get(lang, lang) for lang in sorted(t.variants or {})
                ),
            }
        )
    return choices


def _template_named(session: Session, org_id: int, template_id: int | None) -> str:
    if template_id is None:
        return "not chosen"
    try:
        return templates.get(session, org_id, template_id).name
    except ServiceError:
        return "not found"


# --- the routes ----------------------------------------------------------------------------------


def _render(
    request: Request,
    session: Session,
    user: SignedIn,
    step: str,
    answers: Answers,
    errors: dict[str, str] | None = None,
    *,
    csv_report: CsvReport | None = None,
    shown: PreviewView | None = None,
    status: int = 200,
) -> HTMLResponse:
    org = get_org(session, user.org_id)
    context: dict[str, Any] = {
        "active": "campaigns",
        "steps": STEPS,
        "step": step,
        "step_index": ORDER.index(step),
        "w": answers,
        "errors": errors or {},
        "stages": words.STAGE_CHOICES,
        "languages": words.LANGUAGES,
        "csv_report": csv_report,
        "audience_words": answers.audience_words(),
        "template_name": _template_named(session, user.org_id, answers.template_id),
        "tz": org.timezone,
        "tz_name": org.timezone.replace("_", " "),
        "window": f"{org.send_window_start}–{org.send_window_end}",
        "preview": shown,
    }
    if step == "template":
        context["choices"] = _template_choices(session, user.org_id)
    return html(request, "campaigns_new.html", context, status=status)


@router.get("/campaigns/new", response_class=HTMLResponse)
def new_campaign(request: Request, user: StaffPage, session: SessionDep) -> HTMLResponse:
    """The wizard's first step."""
    return _render(request, session, user, "audience", Answers())


@router.post("/campaigns/new", response_model=None)
def wizard_step(
    request: Request,
    user: StaffPage,
    session: SessionDep,
    step: Text = "audience",
    go: Text = "",
    who: Text = "all",
    stages: Annotated[list[str] | None, Form()] = None,
    language: Text = "",
    patient_ids: Annotated[str, Form(max_length=MAX_IDS_TEXT)] = "",
    csv_name: Text = "",
    template_id: Text = "",
    name: Annotated[str, Form(max_length=1000)] = "",
    when: Text = "now",
    send_date: Text = "",
    send_time: Text = "",
    channel: Text = "lead",
    skipped_after: Annotated[str | None, Form(max_length=20)] = None,
    csv: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """One step of the wizard: check what this step was told, then show the step asked for."""
    answers = read_answers(
        who,
        stages,
        language,
        patient_ids,
        csv_name,
        template_id,
        name,
        when,
        send_date,
        send_time,
        channel,
    )
    here = step if step in STEPS else "audience"
    target = (
        go
        if go in (*STEPS, "start", "draft")
        else ("preview" if skipped_after is not None else here)
    )
    forward = target in ("start", "draft") or ORDER.index(target) > ORDER.index(here)
    org_id = user.org_id
    if here == "audience" and forward:
        if answers.who == "all" and answers.stages:
            answers.who = "stages"  # ticked stages mean them, not every patient
        report: CsvReport | None = None
        if csv is not None and csv.filename:
            errors, report = csv_audience(session, org_id, answers, csv)
            if errors or report:
                return _render(
                    request,
                    session,
                    user,
                    "audience",
                    answers,
                    errors,
                    csv_report=report,
                    status=422 if errors else 200,
                )
        checked = audience(answers)
        if isinstance(checked, dict):
            return _render(request, session, user, "audience", answers, checked, status=422)
    if here == "template" and forward:
        chosen = template(session, org_id, answers)
        if isinstance(chosen, dict):
            return _render(request, session, user, "template", answers, chosen, status=422)
    if target in ("audience", "template", "schedule"):
        return _render(request, session, user, target, answers)
    if target == "preview":
        return _preview_step(request, session, user, answers, skipped_after or "")
    return _save(request, session, user, answers, start=target == "start")


def _preview_step(
    request: Request, session: Session, user: SignedIn, answers: Answers, after: str
) -> HTMLResponse:
    """The preview of the audience and template as chosen; nothing is saved."""
    chosen_audience = audience(answers)
    if isinstance(chosen_audience, dict):
        return _render(request, session, user, "audience", answers, chosen_audience, status=422)
    chosen = template(session, user.org_id, answers)
    if isinstance(chosen, dict):
        return _render(request, session, user, "template", answers, chosen, status=422)
    when = send_at(answers, get_org(session, user.org_id).timezone)
    try:
        shown = preview(
            session,
            user.org_id,
            chosen,
            chosen_audience,
            Channel(answers.channel),
            now=utcnow(),
            send_at=when if isinstance(when, datetime) else None,
            after=int(after) if after.isdecimal() and len(after) < 19 else 0,
        )
    except ServiceError as err:
        errors = refusal(session, err).errors
        return _render(request, session, user, "template", answers, errors, status=422)
    if shown.audience == 0:
        errors = {
            "who": f"No patient matches this audience ({answers.audience_words().lower()}): "
            "choose other lead stages, another language or other patients."
        }
        return _render(request, session, user, "audience", answers, errors, status=422)
    return _render(request, session, user, "preview", answers, shown=shown)


def _save(
    request: Request, session: Session, user: SignedIn, answers: Answers, *, start: bool
) -> Response:
    """Create the campaign (a draft), and start it when asked; a refusal shows where it is."""
    when = send_at(answers, get_org(session, user.org_id).timezone)
    if isinstance(when, dict):
        return _render(request, session, user, "schedule", answers, when, status=422)
    try:
        campaign = campaigns.create(
            session,
            user.org_id,
            name=answers.name,
            template_id=answers.template_id or 0,
            audience=answers.audience(),
            actor=user.actor,
            send_at=when,
            channel=Channel(answers.channel),
        )
        if start:
            campaigns.start(session, user.org_id, campaign.id, actor=user.actor)
    except ServiceError as err:
        refused = refusal(session, err)
        ((name, message),) = refused.errors.items()
        step, field_name = step_of(name)
        return _render(
            request, session, user, step, answers, {field_name: message}, status=refused.status
        )
    done = "started" if start else "saved"
    return RedirectResponse(f"/campaigns/{campaign.id}?done={done}", status_code=303)
