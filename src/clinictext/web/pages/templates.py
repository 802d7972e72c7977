"""The templates page: the organization's templates with what each costs at worst, and the
reminder and confirmation rules that send them ("Reminders and confirmations").

A rule's form takes the time before the appointment in hours and minutes, as staff think of
it, and the rules service checks the result in minutes, as the API does. Its template list
offers the templates of the rule's purpose: with htmx it follows the chosen purpose; without
JavaScript the service's refusal of a template of another purpose says so. The editor of one
template is ``templates_editor``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from clinictext.api.deps import SessionDep
from clinictext.api.schemas import BROKEN_TEXT, MAX_ID, has_broken_text
from clinictext.domain.automation import MINUTES_BEFORE_MAX, MINUTES_BEFORE_MIN, span
from clinictext.services import rules, templates
from clinictext.services.errors import ServiceError
from clinictext.services.web_sessions import SignedIn
from clinictext.web.access import StaffPage
from clinictext.web.forms import FORM_ERROR, refusal
from clinictext.web.pages import templates_editor
from clinictext.web.pages.composer import reading
from clinictext.web.pages.templates_draft import PURPOSE_WORDS, language_word, segments_words
from clinictext.web.render import html

router = APIRouter(include_in_schema=False)

RuleId = Annotated[int, Path(ge=1, le=MAX_ID)]
FormText = Annotated[str, Form()]
RULE_PURPOSES = (("reminder", "Reminder"), ("confirmation", "Confirmation"))
# The form's field that shows the rules service's refusal of a field.
RULE_FIELDS = {
    "name": "name",
    "purpose": "purpose",
    "minutes_before": "before",
    "do_not_send_within_minutes": "margin",
    "template_id": "template",
}
MAX_DIGITS = 6  # more than any offset the rules allow, in hours or minutes
SEGMENTS_WARNING = 3  # from this many segments a template's worst case is flagged


@dataclass
class RuleForms:
    """The rules section's forms as shown: the new rule's values and errors, and a refusal
    of a change to one rule (keyed ``rule-<id>``)."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    notice: str | None = None

    def value(self, name: str, default: Any) -> Any:
        return self.values.get(name, default)


def template_rows(session: Session, org_id: int) -> list[dict[str, Any]]:
    """Each template as the list shows it: purpose, languages and the worst case."""
    shown = []
    for described in templates.described_all(
        session, org_id, templates.list_templates(session, org_id)
    ):
        worst = described["segments_max_any_language"]
        languages = [described["language"], *sorted(described["variants"])]
        shown.append(
            {
                **described,
                "purpose_word": PURPOSE_WORDS.get(described["purpose"], described["purpose"]),
                "languages_word": ", ".join(language_word(code) for code in languages),
                "worst": worst,
                "worst_words": f"Up to {segments_words(worst)} once fields are filled",
                "warn": worst >= SEGMENTS_WARNING,
                "encodings": sorted(
                    {described["encoding"]}
                    | {v["encoding"] for v in described["variants_info"].values()}
                ),
            }
        )
    return shown


def rule_rows(session: Session, org_id: int) -> list[dict[str, Any]]:
    """Each rule as the list shows it, in words: when, the margin, its template, its texts."""
    names = {t.id: t.name for t in templates.list_templates(session, org_id)}
    listed = rules.list_rules(session, org_id)
    counts = rules.text_counts(session, org_id, [r.id for r in listed])
    return [
        {
            "id": rule.id,
            "name": rule.name,
            "purpose_word": PURPOSE_WORDS.get(rule.purpose, rule.purpose),
            "before": f"{span(rule.minutes_before)} before",
            "margin": (
                f"not within {span(rule.do_not_send_within_minutes)} of the start"
                if rule.do_not_send_within_minutes
                else "no do-not-send margin"
            ),
            "template_id": rule.template_id,
            "template_name": names.get(rule.template_id),
            "enabled": rule.enabled,
            "counts": counts[rule.id],
        }
        for rule in listed
    ]


def page_context(session: Session, org_id: int, forms: RuleForms) -> dict[str, Any]:
    purpose = forms.value("purpose", "reminder")
    choosable = (
        templates.list_templates(session, org_id, purpose) if purpose in dict(RULE_PURPOSES) else []
    )
    return {
        "active": "templates",
        "templates": template_rows(session, org_id),
        "rules": rule_rows(session, org_id),
        "forms": forms,
        "rule_purposes": RULE_PURPOSES,
        "purpose": purpose,
        "choosable": choosable,
        "span": span,
    }


def _rules_answer(
    request: Request, session: Session, user: SignedIn, forms: RuleForms, status: int = 200
) -> HTMLResponse:
    """The rules section (htmx) or the whole page, showing ``forms``."""
    context = page_context(session, user.org_id, forms)
    if request.headers.get("hx-request"):
        return html(request, "_templates_rules.html", context, status=status)
    return html(request, "templates.html", context, status=status)


# --- the page -------------------------------------------------------------------------------


@router.get("/templates", response_class=HTMLResponse)
def templates_page(
    request: Request, user: StaffPage, session: SessionDep, deleted: str = ""
) -> HTMLResponse:
    context = page_context(session, user.org_id, RuleForms())
    context["deleted"] = bool(deleted)
    return html(request, "templates.html", context)


@router.get("/templates/rules", response_model=None)
def rules_anchor(user: StaffPage) -> Response:
    """The rules are a section of the templates page."""
    return RedirectResponse("/templates#template-rules", status_code=303)


# --- a new rule -----------------------------------------------------------------------------


def _whole(raw: str) -> int | None:
    """A whole number typed by a person (empty is 0), or None when it is not one."""
    text = raw.strip()
    if not text:
        return 0
    if not text.isdecimal() or not text.isascii() or len(text) > MAX_DIGITS:
        return None
    return int(text)


def _rule_words(name: str, message: str, typed: dict[str, str]) -> str:
    """The rules service's refusal in the form's words (it speaks of the API's minutes)."""
    if name == "before":
        return (
            f"Send the text between {span(MINUTES_BEFORE_MIN)} and {span(MINUTES_BEFORE_MAX)} "
            "before the appointment, e.g. 24 hours for a day before."
        )
    if name == "margin":
        return (
            "The do-not-send margin must be shorter than the time before the appointment "
            f"({typed.get('before_words', 'above')}): otherwise the text would be due inside "
            "it and never go out. Lower it, or use 0 for no margin."
        )
    return message


def parse_rule(typed: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The rule the form describes, or the errors of what was typed."""
    errors: dict[str, str] = {}
    name = typed["name"]
    if "\x00" in name:
        errors["name"] = "The name contains a NUL character; remove it."
    elif has_broken_text(name):
        errors["name"] = f"The name {BROKEN_TEXT}."
    hours, minutes = _whole(typed["hours"]), _whole(typed["minutes"])
    if hours is None or minutes is None:
        errors["before"] = "Enter whole hours and minutes, e.g. 24 hours and 0 minutes."
    elif not typed["hours"].strip() and not typed["minutes"].strip():
        errors["before"] = "Enter how long before the appointment the text goes out, e.g. 24 hours."
    margin = _whole(typed["margin"])
    if margin is None:
        errors["margin"] = "Enter a whole number of minutes, e.g. 60, or 0 for no margin."
    template = typed["template"].strip()
    if not template:
        errors["template"] = "Choose the template this rule sends."
    elif not template.isdecimal() or not 0 < int(template) <= MAX_ID:
        errors["template"] = "Choose the template this rule sends from the list."
    if errors:
        return {}, errors
    assert hours is not None and minutes is not None and margin is not None
    return {
        "name": name,
        "purpose": typed["purpose"],
        "minutes_before": hours * 60 + minutes,
        "do_not_send_within_minutes": margin,
        "template_id": int(template),
        "enabled": bool(typed["enabled"]),
    }, {}


def typed_rule(
    name: FormText = "",
    purpose: FormText = "",
    hours: FormText = "",
    minutes: FormText = "",
    margin: FormText = "",
    template: FormText = "",
    enabled: FormText = "",
) -> dict[str, str]:
    """The rule form's fields as typed, read once for the routes that take the form."""
    return {
        "name": name,
        "purpose": purpose,
        "hours": hours,
        "minutes": minutes,
        "margin": margin,
        "template": template,
        "enabled": enabled,
    }


TypedRule = Annotated[dict[str, str], Depends(typed_rule)]


@router.post("/templates/rules/form", response_class=HTMLResponse)
def rule_form(request: Request, user: StaffPage, typed: TypedRule) -> HTMLResponse:
    """The rules section again with what was typed: the templates of the chosen purpose."""
    with reading(request) as session:
        return _rules_answer(request, session, user, RuleForms(values=typed))


@router.post("/templates/rules", response_class=HTMLResponse)
def add_rule(
    request: Request, user: StaffPage, session: SessionDep, typed: TypedRule
) -> HTMLResponse:
    """Add a rule; an enabled one is planned at once for every upcoming appointment."""
    values, errors = parse_rule(typed)
    if errors:
        return _rules_answer(request, session, user, RuleForms(typed, errors), status=422)
    try:
        rule = rules.create(session, user.org_id, actor=user.actor, **values)
    except ServiceError as err:
        said = refusal(session, err)
        where = RULE_FIELDS.get(str(err.extra.get("field") or ""), FORM_ERROR)
        words = dict(typed, before_words=span(values["minutes_before"]))
        errors = {where: _rule_words(where, err.message, words)}
        return _rules_answer(request, session, user, RuleForms(typed, errors), said.status)
    state = "On: it is planned for every upcoming appointment." if rule.enabled else "Off."
    notice = f"Added the rule '{rule.name}'. {state}"
    return _rules_answer(request, session, user, RuleForms(notice=notice))


# --- one rule -------------------------------------------------------------------------------


@router.post("/templates/rules/{rule_id}/switch", response_class=HTMLResponse)
def switch_rule(
    request: Request,
    user: StaffPage,
    session: SessionDep,
    rule_id: RuleId,
    enabled: Annotated[str, Form(max_length=5)] = "",
) -> HTMLResponse:
    """Turn a rule on (planning its texts) or off (canceling the unsent ones)."""
    on = enabled == "on"
    try:
        rule = rules.update(session, user.org_id, rule_id, actor=user.actor, enabled=on)
    except ServiceError as err:
        said = refusal(session, err)
        rules.get(session, user.org_id, rule_id)  # another organization's: 404
        forms = RuleForms(errors={f"rule-{rule_id}": err.message})
        return _rules_answer(request, session, user, forms, said.status)
    notice = (
        f"The rule '{rule.name}' is on: its texts are planned for every upcoming appointment."
        if rule.enabled
        else f"The rule '{rule.name}' is off: its texts not yet sent are canceled."
    )
    return _rules_answer(request, session, user, RuleForms(notice=notice))


@router.post("/templates/rules/{rule_id}/delete", response_class=HTMLResponse)
def delete_rule(
    request: Request, user: StaffPage, session: SessionDep, rule_id: RuleId
) -> HTMLResponse:
    """Delete a rule: its texts not yet sent are canceled; those sent stay in the history."""
    name = rules.get(session, user.org_id, rule_id).name
    rules.delete(session, user.org_id, rule_id, actor=user.actor)
    notice = f"Deleted the rule '{name}'. Its texts not yet sent are canceled."
    return _rules_answer(request, session, user, RuleForms(notice=notice))


# The editor's routes, after the rules' ("/templates/rules" is not a template's id). Added
# as routes, not with ``include_router``: the web app wraps each route of a page module in
# its transaction, and an included router is not a route it can wrap.
router.routes.extend(templates_editor.router.routes)
