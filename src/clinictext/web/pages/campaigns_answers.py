"""What the new-campaign wizard has been told, read from its forms and checked step by step.

The wizard's answers travel as hidden fields (``campaigns_wizard``); this module turns them
back into values, reads an uploaded CSV through the campaign service's resolver (the same as
the command line's ``--audience-csv``), and says, for each step, what is missing or refused
and next to which field, before anything is saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import UploadFile
from sqlalchemy.orm import Session

from clinictext.domain.audience import Audience, AudienceError, parse_audience
from clinictext.services import campaigns, templates
from clinictext.services.campaign_text import check_fields
from clinictext.services.errors import ServiceError
from clinictext.store.models import Template
from clinictext.web.forms import FORM_ERROR
from clinictext.web.pages import campaigns_view as words

WHO = ("all", "stages", "csv")
TEMPLATE_PURPOSES = ("campaign", "general")
MAX_CSV_BYTES = 5 * 1024 * 1024
CSV_PROBLEMS_SHOWN = 20
# The carried ids: at most this many characters (about 140,000 patients).
MAX_IDS_TEXT = 1_000_000


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
        if part.isdecimal() and 0 < int(part) < 2**62:
            out.append(int(part))
    return out


def _template_id(text: str) -> int | None:
    text = text.strip()
    return int(text) if text.isdecimal() and 0 < int(text) < 2**62 else None


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


def read_answers(
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


@dataclass
class CsvReport:
    """What an uploaded file gave: the summary line and the lines that match no patient."""

    summary: str
    problems: list[str]
    more: int = 0


def read_upload(upload: UploadFile) -> str | None:
    """The file's text, or None when it is too large to be a list of patients."""
    data = upload.file.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:  # spreadsheet programs on Windows write cp1252
        return data.decode("cp1252", errors="replace")


def csv_audience(
    session: Session, org_id: int, answers: Answers, upload: UploadFile
) -> tuple[dict[str, str], CsvReport | None]:
    """Read an uploaded CSV into ``answers``: the errors, and the per-line report."""
    name = (upload.filename or "patients.csv")[-100:]
    text = read_upload(upload)
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


def audience(answers: Answers) -> Audience | dict[str, str]:
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


def template(session: Session, org_id: int, answers: Answers) -> Template | dict[str, str]:
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


def step_of(field_name: str) -> tuple[str, str]:
    """The step and the form field that show a service's refusal of ``field_name``."""
    if field_name.startswith("audience"):
        return "audience", AUDIENCE_FIELDS.get(field_name, "who")
    if field_name == "template_id":
        return "template", "template_id"
    if field_name in ("name", "send_at", "channel"):
        return "schedule", field_name
    return "schedule", FORM_ERROR
