"""The template editor: name, purpose, language, the message with buttons for its fields, a
version per language, and a live preview of each text: filled with sample values, its
worst-case segments once filled, the lint, and a misspelled field with its position and the
field it probably meant (``templates_draft`` holds what the editor shows).

The preview is the templates service's ``preview`` and Save is its ``create``/``update``:
the page decides nothing about a template.

Inserting a field and accepting a suggested spelling are done by the server: the button
posts the form and the editor comes back with the text changed. The pages run no script of
their own, and so the buttons work without JavaScript too. A field is added at the end of
the text, since a browser does not send where the caret was.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from clinictext.api.deps import SessionDep
from clinictext.api.schemas import MAX_ID
from clinictext.domain.templates import FIELDS
from clinictext.services import templates
from clinictext.services.errors import ServiceError
from clinictext.web.access import Staff, StaffPage
from clinictext.web.forms import refusal
from clinictext.web.pages.composer import reading
from clinictext.web.pages.templates_draft import (
    LANGUAGE_WORDS,
    LANGUAGES,
    MAIN,
    NEW,
    WORDS,
    Draft,
    TypedForm,
    Version,
    from_template,
    preview_of,
    service_errors,
    typed_problems,
    variants_of,
)
from clinictext.web.render import html

router = APIRouter(include_in_schema=False)

TemplateId = Annotated[int, Path(ge=1, le=MAX_ID)]
Choice = Annotated[str, Form(max_length=40)]


# --- answers ------------------------------------------------------------------------------------


def editor_url(draft: Draft) -> str:
    """Where the editor posts to come back changed (Insert, a suggestion, a new purpose)."""
    if draft.template_id is None:
        return "/templates/new/editor"
    return f"/templates/{draft.template_id}/editor"


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
        if version is None or not where.isdecimal():
            return
        shown = preview_of(session, org_id, version, draft.purpose)
        suggested = shown.get("fix") or {}
        if suggested.get("value") == fix:
            start, written, to = int(where), suggested["written"], suggested["to"]
            text = version.body
            draft.set_text(slot, text[:start] + to + text[start + len(written) :])


# --- routes -------------------------------------------------------------------------------------

SAVED = "Saved. The template '{}' can now be chosen by rules and campaigns."


@router.get("/templates/new", response_class=HTMLResponse)
def new_template(request: Request, user: StaffPage, session: SessionDep) -> HTMLResponse:
    return editor(request, session, user.org_id, Draft(template_id=None))


@router.post("/templates/new/editor", response_class=HTMLResponse)
def new_template_editor(
    request: Request, user: StaffPage, typed: TypedForm, insert: Choice = "", fix: Choice = ""
) -> HTMLResponse:
    """The editor again with what was typed: after Insert, a suggestion, a new purpose."""
    draft = typed.draft(None)
    with reading(request) as session:
        _changed(draft, insert, fix, session, user.org_id)
        return editor(request, session, user.org_id, draft)


@router.post("/templates/preview", response_class=HTMLResponse)
def preview(
    request: Request,
    user: Staff,
    typed: TypedForm,
    slot: Annotated[str, Form(max_length=20)] = MAIN,
    template_id: Annotated[str, Form(max_length=20)] = "",
) -> HTMLResponse:
    """The preview of one text of the form as it is typed; its status line out of band."""
    saved = template_id.isdecimal() and 0 < int(template_id) <= MAX_ID
    draft = typed.draft(int(template_id) if saved else None)
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
    request: Request, user: StaffPage, session: SessionDep, typed: TypedForm
) -> Response:
    """Save a new template; a refusal shows next to its field with what was typed."""
    draft = typed.draft(None)
    draft.errors = typed_problems(draft)
    if draft.errors:
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
    shown.notice = SAVED.format(saved.name)
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
        draft.notice = SAVED.format(draft.name)
    return editor(request, session, user.org_id, draft)


@router.post("/templates/{template_id}/editor", response_class=HTMLResponse)
def edit_template_editor(
    request: Request,
    user: StaffPage,
    template_id: TemplateId,
    typed: TypedForm,
    insert: Choice = "",
    fix: Choice = "",
) -> HTMLResponse:
    """The editor of a saved template again with what was typed (nothing saved)."""
    draft = typed.draft(template_id)
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
    typed: TypedForm,
) -> HTMLResponse:
    """Save the template's changes, checked as a whole; a refusal changes nothing."""
    draft = typed.draft(template_id)
    draft.saved_name = templates.get(session, user.org_id, template_id).name
    draft.errors = typed_problems(draft)
    if draft.errors:
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
