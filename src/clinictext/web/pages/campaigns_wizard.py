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

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from clinictext.api.deps import SessionDep
from clinictext.domain.audience import Audience, AudienceError, parse_audience
from clinictext.domain.checklist import Channel
from clinictext.services import campaigns, templates
from clinictext.services.campaign_text import check_fields
from clinictext.services.clock import utcnow
from clinictext.services.errors import ServiceError
from clinictext.services.orgs import get_org
from clinictext.services.web_sessions import SignedIn
from clinictext.store.models import Template
from clinictext.web.access import StaffPage
from clinictext.web.forms import FORM_ERROR, refusal
from clinictext.web.pages import campaigns_view as words
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
WHO = ("all", "stages", "csv")
TEMPLATE_PURPOSES = ("campaign", "general")
PURPOSE_WORDS = {"campaign": "Campaign", "general": "General"}
MAX_CSV_BYTES = 5 * 1024 * 1024
CSV_PROBLEMS_SHOWN = 20
SKIPPED_PAGE = 50
# The carried ids: at most this many characters (about 140,000 patients).
MAX_IDS_TEXT = 1_000_000

Text = Annotated[str, Form(max_length=200)]


@dataclass
class Answers:
    """What the wizard has been told so far, as typed."""

    who: str = "all"
    stages: list[str] = field(default_factory=list)
    language: str = ""
    patient_ids: list[int] = field(default_factory=list)
    csv_name: str = ""
    template_id: int | None = None
    name: str = ""
    when: str = "now"
    send_date: str = ""
    send_time: str = ""
    channel: str = "lead"

    @property
    def patient_ids_text(self) -> str:
        return ",".join(str(i) for i in self.patient_ids)

    def audience(self) -> dict[str, Any]:
        """The audience as the campaign service (and the API) reads it."""
        audience: dict[str, Any] = {}
        if self.who == "stages":
            audience["lead_stages"] = list(self.stages)
        elif self.who == "csv":
            audience["patient_ids"] = list(self.patient_ids)
        else:
            audience["all"] = True
        if self.language.strip():
            audience["language"] = self.language.strip()
        return audience

    def audience_words(self) -> str:
        return words.audience_words(self.audience(), self.csv_name)


def _ids(text: str) -> list[int]:
    """The carried patient ids; anything that is not an id is dropped (the form is ours)."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if part.isdigit() and 0 < int(part) < 2**62:
            out.append(int(part))
    return out


def _template_id(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdigit() and 0 < int(text) < 2**62 else None


def send_at(answers: Answers, tz: str) -> datetime | dict[str, str] | None:
    """The send time typed in the clinic's zone, as UTC; None for now; or the error."""
    if answers.when != "later":
        return None
    try:
        day = date.fromisoformat(answers.send_date.strip())
    except ValueError:
        return {"send_at": "Choose the date it goes out, e.g. 2026-10-15, or choose Send now."}
    try:
        moment = time.fromisoformat(answers.send_time.strip())
    except ValueError:
        return {"send_at": "Choose the time it goes out, e.g. 09:30, or choose Send now."}
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return datetime.combine(day, moment.replace(tzinfo=None), tzinfo=zone)


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


@dataclass
class CsvReport:
    """What an uploaded file gave: the summary line and the lines that match no patient."""

    summary: str
    problems: list[str]
    more: int = 0


def _read_upload(upload: UploadFile) -> str | None:
    """The file's text, or None when it is too large to be a list of patients."""
    data = upload.file.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # spreadsheet programs on Windows write cp1252
        return data.decode("cp1252", errors="replace")


def _csv_audience(
    session: Session, org_id: int, answers: Answers, upload: UploadFile
) -> tuple[dict[str, str], CsvReport | None]:
    """Read an uploaded CSV into ``answers``: the errors, and the per-line report."""
    name = (upload.filename or "patients.csv")[-100:]
    text = _read_upload(upload)
    if text is None:
        limit = MAX_CSV_BYTES // (1024 * 1024)
        return {"csv": f"{name} is larger than {limit} MB: split it into several files."}, None
    try:
        found = campaigns.resolve_csv(session, org_id, text)
    except ServiceError as err:
        return {"csv": f"{name}: {err.message}"}, None
    answers.who = "csv"
    answers.csv_name = name
    answers.patient_ids = list(found.patient_ids)
    problems = [f"Line {u.line}: {u.reason}" for u in found.unmatched]
    matched = words.patients(len(found.patient_ids))
    if not found.patient_ids:
        report = CsvReport(f"No line of {name} matches a patient.", problems[:CSV_PROBLEMS_SHOWN])
        report.more = max(0, len(problems) - CSV_PROBLEMS_SHOWN)
        return {
            "csv": f"No line of {name} matches a patient: correct the file (see below)."
        }, report
    if not problems:
        return {}, None
    n = len(problems)
    summary = (
        f"{name}: {matched} found by {found.column}; {n} line{'' if n == 1 else 's'} "
        f"{'matches' if n == 1 else 'match'} no patient (below). Correct the file and choose it "
        f"again, or go on with the {matched} found."
    )
    report = CsvReport(summary, problems[:CSV_PROBLEMS_SHOWN], max(0, n - CSV_PROBLEMS_SHOWN))
    return {}, report


AUDIENCE_FIELDS = {
    "audience.lead_stages": "stages",
    "audience.language": "language",
    "audience.patient_ids": "csv",
    "audience_csv": "csv",
}


def _audience(answers: Answers) -> Audience | dict[str, str]:
    """The audience the answers describe, or the errors to show on the audience step."""
    if answers.who not in WHO:
        return {"who": "Choose who receives the campaign."}
    if answers.who == "stages" and not answers.stages:
        return {"stages": "Tick at least one lead stage, or choose All patients."}
    if answers.who == "csv" and not answers.patient_ids:
        return {"csv": "Choose the CSV file of patients to text, or choose All patients."}
    try:
        return parse_audience(answers.audience())
    except AudienceError as err:
        return {AUDIENCE_FIELDS.get(err.field, "who"): err.message}


def _template(session: Session, org_id: int, answers: Answers) -> Template | dict[str, str]:
    """The chosen template, if a campaign may send it; else the error of the template step."""
    if answers.template_id is None:
        return {"template_id": "Choose the template the campaign sends."}
    try:
        template = templates.get(session, org_id, answers.template_id)
    except ServiceError as err:
        return {"template_id": err.message}
    if template.purpose not in TEMPLATE_PURPOSES:
        return {"template_id": "Choose a campaign or general template."}
    try:
        check_fields(template)
    except ServiceError as err:
        return {"template_id": err.message}
    return template


def _step_of(field_name: str) -> tuple[str, str]:
    """The step and the form field that show a service's refusal of ``field_name``."""
    if field_name.startswith("audience"):
        return "audience", AUDIENCE_FIELDS.get(field_name, "who")
    if field_name == "template_id":
        return "template", "template_id"
    if field_name in ("name", "send_at", "channel"):
        return "schedule", field_name
    return "schedule", FORM_ERROR


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


def _answers(
    who: str,
    stages: list[str] | None,
    language: str,
    patient_ids: str,
    csv_name: str,
    template_id: str,
    name: str,
    when: str,
    send_date: str,
    send_time: str,
    channel: str,
) -> Answers:
    return Answers(
        who=who if who in WHO else "all",
        stages=[s for s in dict.fromkeys(stages or []) if s in words.STAGE_WORDS],
        language=language.strip(),
        patient_ids=_ids(patient_ids),
        csv_name=csv_name,
        template_id=_template_id(template_id),
        name=name,
        when="later" if when == "later" else "now",
        send_date=send_date,
        send_time=send_time,
        channel="clinic" if channel == "clinic" else "lead",
    )


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
    answers = _answers(
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
            errors, report = _csv_audience(session, org_id, answers, csv)
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
        checked = _audience(answers)
        if isinstance(checked, dict):
            return _render(request, session, user, "audience", answers, checked, status=422)
    if here == "template" and forward:
        chosen = _template(session, org_id, answers)
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
    audience = _audience(answers)
    if isinstance(audience, dict):
        return _render(request, session, user, "audience", answers, audience, status=422)
    template = _template(session, user.org_id, answers)
    if isinstance(template, dict):
        return _render(request, session, user, "template", answers, template, status=422)
    when = send_at(answers, get_org(session, user.org_id).timezone)
    try:
        shown = preview(
            session,
            user.org_id,
            template,
            audience,
            Channel(answers.channel),
            now=utcnow(),
            send_at=when if isinstance(when, datetime) else None,
            after=int(after) if after.isdigit() and len(after) < 19 else 0,
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
        step, field_name = _step_of(name)
        return _render(
            request, session, user, step, answers, {field_name: message}, status=refused.status
        )
    done = "started" if start else "saved"
    return RedirectResponse(f"/campaigns/{campaign.id}?done={done}", status_code=303)
