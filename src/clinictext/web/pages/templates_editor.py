"""The template editor: name, purpose, language, the message with buttons for its fields, a
version per language, and a live preview of each text: filled with sample values, its
worst-case segments once filled, the lint, and a misspelled field with its position and the
field it probably meant.

The preview is the templates service's ``preview`` (what ``POST /api/v1/templates/preview``
answers) and Save is its ``create``/``update``: the page decides nothing about a template.

Inserting a field and accepting a suggested spelling are done by the server: the button
posts the form and the editor comes back with the text changed. The pages run no script of
their own, and so the buttons work without JavaScript too. A field is added at the end of
the text, since a browser does not send where the caret was.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from clinictext.api.deps import SessionDep
from clinictext.api.schemas import BROKEN_TEXT, MAX_ID, has_broken_text
from clinictext.domain.content import MAX_BODY_CHARS
from clinictext.domain.templates import FIELDS
from clinictext.services import templates
from clinictext.services.errors import ServiceError
from clinictext.store.models import Template
from clinictext.web.access import Staff, StaffPage
from clinictext.web.forms import FORM_ERROR, refusal
from clinictext.web.pages.composer import SEVERITY_TONES, SEVERITY_WORDS, reading
from clinictext.web.render import html

router = APIRouter(include_in_schema=False)

TemplateId = Annotated[int, Path(ge=1, le=MAX_ID)]
FormText = Annotated[str, Form()]
FormTexts = Annotated[list[str], Form()]

PURPOSES = (
    ("reminder", "Reminder"),
    ("confirmation", "Confirmation"),
    ("campaign", "Campaign"),
    ("general", "General"),
)
PURPOSE_WORDS = dict(PURPOSES)
PURPOSE_HINTS = {
    "reminder": "Sent by a reminder rule before each appointment.",
    "confirmation": (
        "Sent by a confirmation rule before each appointment. It must contain [ConfirmCode]: "
        "patients confirm by replying with it."
    ),
    "campaign": (
        "Sent to many patients at once. The clinic's name and an opt-out line are added when "
        "the text lacks them, and appointment fields cannot be used."
    ),
    "general": "For any other text the clinic sends often.",
}
# Languages a template is commonly written in, as staff name them. A template saved through
# the API in another language keeps it: it is added to the choices when shown.
LANGUAGES = (
    ("en", "English"),
    ("es", "Spanish"),
    ("zh", "Chinese"),
    ("vi", "Vietnamese"),
    ("tl", "Tagalog"),
    ("ko", "Korean"),
    ("ru", "Russian"),
    ("ar", "Arabic"),
    ("ht", "Haitian Creole"),
    ("fr", "French"),
    ("pt", "Portuguese"),
    ("pl", "Polish"),
    ("it", "Italian"),
    ("de", "German"),
    ("ja", "Japanese"),
    ("hi", "Hindi"),
)
LANGUAGE_WORDS = dict(LANGUAGES)
FIELD_WORDS = {
    "FName": "first name",
    "LName": "last name",
    "OfficeName": "office name",
    "OfficePhone": "office phone",
    "ApptDate": "appointment date",
    "ApptTime": "appointment time",
    "ConfirmCode": "confirm code",
    "ConfirmURL": "confirmation link",
}
MAX_LANGUAGE = 12  # the width of the template's language column
# A text longer than this gets no preview, only the note that it is too long (as POST /lint).
MAX_TYPED = 10 * MAX_BODY_CHARS
MAIN = "body"
NEW = "new"


def language_word(code: str) -> str:
    """A language as staff name it: "Spanish", or the code when it is not a listed one."""
    return LANGUAGE_WORDS.get(code.strip().lower(), code)


def languages_named(codes: list[str]) -> str:
    return ", ".join(language_word(c) for c in codes)


# --- what is being edited ---------------------------------------------------------------------


@dataclass
class Version:
    """One text of the template: the message (``MAIN``), a language's version, or the empty
    slot where another language's version is added (``NEW``)."""

    slot: str
    language: str
    body: str


@dataclass
class Draft:
    """The editor as shown: what was typed (or saved), and what to say about it."""

    template_id: int | None
    name: str = ""
    purpose: str = "reminder"
    language: str = "en"
    body: str = ""
    variants: list[Version] = field(default_factory=list)
    new: Version = field(default_factory=lambda: Version(NEW, "", ""))
    saved_name: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    notice: str | None = None

    @property
    def versions(self) -> list[Version]:
        return [Version(MAIN, self.language, self.body), *self.variants, self.new]

    def version(self, slot: str) -> Version | None:
        return next((v for v in self.versions if v.slot == slot), None)

    def set_text(self, slot: str, text: str) -> None:
        if slot == MAIN:
            self.body = text
        for version in (*self.variants, self.new):
            if version.slot == slot:
                version.body = text

    def slot_of(self, language: str) -> str:
        """The slot of the version in ``language`` (the new one when none is)."""
        wanted = language.strip().casefold()
        for version in self.variants:
            if version.language.casefold() == wanted:
                return version.slot
        return NEW


def _text(raw: str) -> str:
    """A textarea's value as typed: browsers send line breaks as CR LF."""
    return raw.replace("\r\n", "\n")


def from_template(template: Template) -> Draft:
    variants = sorted((template.variants or {}).items())
    return Draft(
        template_id=template.id,
        name=template.name,
        purpose=template.purpose,
        language=template.language,
        body=template.body,
        variants=[Version(f"v{i}", lang, body) for i, (lang, body) in enumerate(variants)],
        saved_name=template.name,
    )


def from_form(
    template_id: int | None,
    *,
    name: str,
    purpose: str,
    language: str,
    body: str,
    variant_language: list[str],
    variant_body: list[str],
) -> Draft:
    """The draft the form holds. Versions come as (language, text) pairs in page order; a
    pair without a language is the slot for another language's version."""
    variants: list[Version] = []
    loose = ""
    for lang, text in zip_longest(variant_language, variant_body, fillvalue=""):
        if lang.strip():
            variants.append(Version(f"v{len(variants)}", lang.strip(), _text(text)))
        elif text.strip() and not loose:
            loose = _text(text)
    return Draft(
        template_id=template_id,
        name=name,
        purpose=purpose,
        language=language.strip(),
        body=_text(body),
        variants=variants,
        new=Version(NEW, "", loose),
    )


def typed_problems(draft: Draft) -> dict[str, str]:
    """What the form itself got wrong, before the service sees it: text no database can
    store, a language not from the list, a version without a language or twice the same."""
    errors: dict[str, str] = {}
    if "\x00" in draft.name:
        errors["name"] = "The name contains a NUL character; remove it."
    elif has_broken_text(draft.name):
        errors["name"] = f"The name {BROKEN_TEXT}."
    if len(draft.language) > MAX_LANGUAGE:
        errors["language"] = "Choose the template's language from the list."
    seen: set[str] = set()
    for version in draft.variants:
        lang = version.language.casefold()
        if len(lang) > MAX_LANGUAGE:
            errors[version.slot] = "Choose the language of this version from the list."
        elif version.body.strip() and lang in seen:
            errors[version.slot] = (
                f"There are two versions in {language_word(version.language)}: keep one."
            )
        if version.body.strip():
            seen.add(lang)
    if draft.new.body.strip():
        errors[NEW] = (
            "Choose the language this version is written in, or empty its message to leave it out."
        )
    return errors


def variants_of(draft: Draft) -> dict[str, str]:
    """The versions to save: one emptied is removed."""
    return {v.language: v.body for v in draft.variants if v.body.strip()}


def service_errors(draft: Draft, err: ServiceError) -> dict[str, str]:
    """The service's refusal by the form's field: ``variants.es`` is the Spanish version's."""
    name = str(err.extra.get("field") or "")
    if name.startswith("variants."):
        name = draft.slot_of(name.removeprefix("variants."))
    elif err.code == "template_in_use":
        name = "purpose"  # the only change a template in use refuses
    elif name not in {"name", "purpose", "language", "body"}:
        name = FORM_ERROR
    return {name: err.message}


# --- the preview --------------------------------------------------------------------------------


def preview_of(session: Session, org_id: int, version: Version, purpose: str) -> dict[str, Any]:
    """What the preview of one text shows (the service's preview, and its words)."""
    body = version.body
    if not body.strip():
        return {"empty": True}
    if len(body) > MAX_TYPED:
        return {"too_long": len(body), "limit": MAX_BODY_CHARS}
    shown = purpose if purpose in PURPOSE_WORDS else "general"
    answer = templates.preview(session, org_id, body, shown, version.language or "en")
    error = answer["error"]
    fix = None
    if error and error.get("suggestion"):
        position, suggestion = error.get("position"), error["suggestion"]
        if position is None:  # a field the text lacks, such as a confirmation's [ConfirmCode]
            fix = {"insert": f"{version.slot}:{suggestion.strip('[]')}", "to": suggestion}
        else:
            written = _bracketed(body, position)
            if written and written != suggestion:
                fix = {"value": f"{version.slot}:{position}", "written": written, "to": suggestion}
    return {**answer, "fix": fix, "summary": summary(answer)}


_BRACKETED = re.compile(r"\[[^\[\]\n]*\]")


def _bracketed(body: str, position: int) -> str | None:
    """The whole bracketed text at ``position`` ("[Fname]"), or None (an unclosed bracket:
    what follows it is the office's text, not a field to replace)."""
    found = _BRACKETED.match(body, position)
    return found.group(0) if found else None


def segments_words(count: int) -> str:
    return f"{count} segment" + ("" if count == 1 else "s")


def summary(answer: dict[str, Any]) -> str:
    """The preview in one sentence, for the status line read out as the office types."""
    if answer["error"]:
        return "Cannot be saved yet: " + answer["error"]["message"]
    said = f"Up to {segments_words(answer['segments_max'])} once fields are filled"
    return said + f" ({answer['encoding']})."


# --- answers ------------------------------------------------------------------------------------


def editor_url(draft: Draft) -> str:
    return (
        "/templates/new/editor"
        if draft.template_id is None
        else (f"/templates/{draft.template_id}/editor")
    )


WORDS: dict[str, Any] = {
    "purposes": PURPOSES,
    "purpose_hints": PURPOSE_HINTS,
    "language_word": language_word,
    "fields": FIELDS,
    "field_words": FIELD_WORDS,
    "severity_words": SEVERITY_WORDS,
    "severity_tones": SEVERITY_TONES,
    "segments_words": segments_words,
    "MAIN": MAIN,
    "NEW": NEW,
}


def editor_context(session: Session, org_id: int, draft: Draft) -> dict[str, Any]:
    chosen = {draft.language, *(v.language for v in draft.variants)}
    languages = list(LANGUAGES) + [(c, c) for c in sorted(chosen) if c and c not in LANGUAGE_WORDS]
    return {
        **WORDS,
        "active": "templates",
        "draft": draft,
        "previews": {
            v.slot: preview_of(session, org_id, v, draft.purpose)
            for v in draft.versions
            if v.slot != NEW or v.body.strip()
        },
        "languages": languages,
        "editor_url": editor_url(draft),
    }


def editor(
    request: Request,
    session: Session,
    org_id: int,
    draft: Draft,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """The editor (htmx) or its whole page, showing ``draft``."""
    context = editor_context(session, org_id, draft)
    if request.headers.get("hx-request"):
        return html(request, "_templates_editor.html", context, status=status, headers=headers)
    return html(request, "templates_edit.html", context, status=status, headers=headers)


def _changed(draft: Draft, insert: str, fix: str, session: Session, org_id: int) -> None:
    """Apply an Insert button (``slot:Field``) or a suggested spelling (``slot:position``)."""
    if insert:
        slot, _, name = insert.partition(":")
        version = draft.version(slot)
        if version is not None and name in FIELDS:
            text = version.body
            gap = "" if not text or text[-1].isspace() else " "
            draft.set_text(slot, f"{text}{gap}[{name}]")
    if fix:
        slot, _, where = fix.partition(":")
        version = draft.version(slot)
        if version is None or not where.isdigit():
            return
        shown = preview_of(session, org_id, version, draft.purpose)
        suggested = shown.get("fix") or {}
        if suggested.get("value") == fix:
            start, written, to = int(where), suggested["written"], suggested["to"]
            text = version.body
            draft.set_text(slot, text[:start] + to + text[start + len(written) :])


# --- routes -------------------------------------------------------------------------------------


@router.get("/templates/new", response_class=HTMLResponse)
def new_template(request: Request, user: StaffPage, session: SessionDep) -> HTMLResponse:
    return editor(request, session, user.org_id, Draft(template_id=None))


@router.post("/templates/new/editor", response_class=HTMLResponse)
def new_template_editor(
    request: Request,
    user: StaffPage,
    name: FormText = "",
    purpose: FormText = "",
    language: FormText = "",
    body: FormText = "",
    variant_language: FormTexts = [],  # noqa: B006 (FastAPI copies a default)
    variant_body: FormTexts = [],  # noqa: B006
    insert: Annotated[str, Form(max_length=40)] = "",
    fix: Annotated[str, Form(max_length=40)] = "",
) -> HTMLResponse:
    """The editor again with what was typed: after Insert, a suggestion, a new purpose."""
    draft = from_form(
        None,
        name=name,
        purpose=purpose,
        language=language,
        body=body,
        variant_language=variant_language,
        variant_body=variant_body,
    )
    with reading(request) as session:
        _changed(draft, insert, fix, session, user.org_id)
        return editor(request, session, user.org_id, draft)


@router.post("/templates/preview", response_class=HTMLResponse)
def preview(
    request: Request,
    user: Staff,
    slot: Annotated[str, Form(max_length=20)] = MAIN,
    template_id: Annotated[str, Form(max_length=20)] = "",
    purpose: FormText = "",
    language: FormText = "",
    body: FormText = "",
    variant_language: FormTexts = [],  # noqa: B006
    variant_body: FormTexts = [],  # noqa: B006
) -> HTMLResponse:
    """The preview of one text of the form as it is typed; the status line out of band."""
    draft = from_form(
        int(template_id) if template_id.isdigit() and 0 < int(template_id) <= MAX_ID else None,
        name="",
        purpose=purpose,
        language=language,
        body=body,
        variant_language=variant_language,
        variant_body=variant_body,
    )
    version = draft.version(slot) or Version(slot, "", "")
    with reading(request) as session:
        shown = preview_of(session, user.org_id, version, draft.purpose)
        context = {
            **WORDS,
            "message": version,
            "p": shown,
            "oob": True,
            "editor_url": editor_url(draft),
        }
        return html(request, "_templates_preview.html", context)


@router.post("/templates", response_class=HTMLResponse, response_model=None)
def create_template(
    request: Request,
    user: StaffPage,
    session: SessionDep,
    name: FormText = "",
    purpose: FormText = "",
    language: FormText = "",
    body: FormText = "",
    variant_language: FormTexts = [],  # noqa: B006
    variant_body: FormTexts = [],  # noqa: B006
) -> Response:
    """Save a new template; a refusal shows next to its field with what was typed."""
    draft = from_form(
        None,
        name=name,
        purpose=purpose,
        language=language,
        body=body,
        variant_language=variant_language,
        variant_body=variant_body,
    )
    errors = typed_problems(draft)
    if errors:
        draft.errors = errors
        return editor(request, session, user.org_id, draft, status=422)
    try:
        saved = templates.create(
            session,
            user.org_id,
            name=draft.name,
            purpose=draft.purpose,
            body=draft.body,
            language=draft.language or "en",
            variants=variants_of(draft),
            actor=user.actor,
        )
    except ServiceError as err:
        status = refusal(session, err).status
        draft.errors = service_errors(draft, err)
        return editor(request, session, user.org_id, draft, status=status)
    if not request.headers.get("hx-request"):
        return RedirectResponse(f"/templates/{saved.id}?saved=1", status_code=303)
    shown = from_template(saved)
    shown.notice = f"Saved. The template '{saved.name}' can now be chosen by rules and campaigns."
    push = {"HX-Push-Url": f"/templates/{saved.id}"}
    return editor(request, session, user.org_id, shown, headers=push)


@router.get("/templates/{template_id}", response_class=HTMLResponse)
def edit_template(
    request: Request,
    user: StaffPage,
    session: SessionDep,
    template_id: TemplateId,
    saved: str = "",
) -> HTMLResponse:
    draft = from_template(templates.get(session, user.org_id, template_id))
    if saved:
        draft.notice = (
            f"Saved. The template '{draft.name}' can now be chosen by rules and campaigns."
        )
    return editor(request, session, user.org_id, draft)


@router.post("/templates/{template_id}/editor", response_class=HTMLResponse)
def edit_template_editor(
    request: Request,
    user: StaffPage,
    template_id: TemplateId,
    name: FormText = "",
    purpose: FormText = "",
    language: FormText = "",
    body: FormText = "",
    variant_language: FormTexts = [],  # noqa: B006
    variant_body: FormTexts = [],  # noqa: B006
    insert: Annotated[str, Form(max_length=40)] = "",
    fix: Annotated[str, Form(max_length=40)] = "",
) -> HTMLResponse:
    """The editor of a saved template again with what was typed (nothing saved)."""
    draft = from_form(
        template_id,
        name=name,
        purpose=purpose,
        language=language,
        body=body,
        variant_language=variant_language,
        variant_body=variant_body,
    )
    with reading(request) as session:
        draft.saved_name = templates.get(session, user.org_id, template_id).name
        _changed(draft, insert, fix, session, user.org_id)
        return editor(request, session, user.org_id, draft)


@router.post("/templates/{template_id}", response_class=HTMLResponse)
def update_template(
    request: Request,
    user: StaffPage,
    session: SessionDep,
    template_id: TemplateId,
    name: FormText = "",
    purpose: FormText = "",
    language: FormText = "",
    body: FormText = "",
    variant_language: FormTexts = [],  # noqa: B006
    variant_body: FormTexts = [],  # noqa: B006
) -> HTMLResponse:
    """Save the template's changes, checked as a whole; a refusal changes nothing."""
    current = templates.get(session, user.org_id, template_id)
    draft = from_form(
        template_id,
        name=name,
        purpose=purpose,
        language=language,
        body=body,
        variant_language=variant_language,
        variant_body=variant_body,
    )
    draft.saved_name = current.name
    errors = typed_problems(draft)
    if errors:
        draft.errors = errors
        return editor(request, session, user.org_id, draft, status=422)
    try:
        saved = templates.update(
            session,
            user.org_id,
            template_id,
            actor=user.actor,
            name=draft.name,
            purpose=draft.purpose,
            body=draft.body,
            language=draft.language or "en",
            variants=variants_of(draft),
        )
    except ServiceError as err:
        status = refusal(session, err).status
        draft.errors = service_errors(draft, err)
        draft.saved_name = templates.get(session, user.org_id, template_id).name
        return editor(request, session, user.org_id, draft, status=status)
    shown = from_template(saved)
    shown.notice = "Saved. Rules and campaigns that use this template send the new text."
    return editor(request, session, user.org_id, shown)


@router.post("/templates/{template_id}/delete", response_class=HTMLResponse, response_model=None)
def delete_template(
    request: Request, user: StaffPage, session: SessionDep, template_id: TemplateId
) -> Response:
    """Delete the template, unless a rule or campaign still sends it (then say which)."""
    try:
        templates.delete(session, user.org_id, template_id, actor=user.actor)
    except ServiceError as err:
        status = refusal(session, err).status
        draft = from_template(templates.get(session, user.org_id, template_id))
        draft.errors = {"delete": err.message}
        return editor(request, session, user.org_id, draft, status=status)
    if request.headers.get("hx-request"):
        return Response(status_code=200, headers={"HX-Redirect": "/templates?deleted=1"})
    return RedirectResponse("/templates?deleted=1", status_code=303)
