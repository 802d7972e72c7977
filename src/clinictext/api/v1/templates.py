"""`/templates`: the texts reminders, confirmations and campaigns send, and their live preview."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from clinictext.api.deps import CallerDep, SessionDep
from clinictext.api.schemas import MAX_ID, Language, NoNul, Request
from clinictext.api.v1.lint import LintFindingOut
from clinictext.domain.content import MAX_BODY_CHARS
from clinictext.services import templates

router = APIRouter(tags=["templates"])

# A template over the sending limit is refused with a sentence saying by how much; twice
# that limit bounds what one request can make the server read.
MAX_TEMPLATE_CHARS = 2 * MAX_BODY_CHARS
MAX_VARIANTS = 20

PurposeName = Literal["reminder", "confirmation", "campaign", "general"]
TemplateName = Annotated[str, Field(strict=True, min_length=1, max_length=200), NoNul]
TemplateBody = Annotated[str, Field(strict=True, max_length=MAX_TEMPLATE_CHARS)]
Variants = Annotated[
    dict[Language, TemplateBody],
    Field(
        max_length=MAX_VARIANTS,
        description='The text for patients of another language, e.g. {"es": "Hola [FName]..."}; '
        'a patient whose language is "es-MX" gets "es" when there is no "es-MX".',
    ),
]
TemplateId = Annotated[int, Path(ge=1, le=MAX_ID, description="The template's id.")]


class TemplateIn(Request):
    name: TemplateName
    purpose: PurposeName
    body: TemplateBody = Field(
        description="The text, with bracket fields: [FName] [LName] [OfficeName] [OfficePhone] "
        "[ApptDate] [ApptTime] [ConfirmCode] [ConfirmURL]."
    )
    language: Language = "en"
    variants: Variants | None = None


class TemplatePatch(Request):
    name: TemplateName | None = None
    purpose: PurposeName | None = None
    body: TemplateBody | None = None
    language: Language | None = None
    variants: Variants | None = None


class PreviewIn(Request):
    body: TemplateBody
    purpose: PurposeName
    language: Language = "en"


class WorstCase(BaseModel):
    fields: list[str] = Field(description="The fields used, in order of first use.")
    encoding: Literal["GSM-7", "UCS-2"] = Field(description="Encoding once filled in.")
    segments_max: int = Field(
        description="Parts (billed texts) once filled in with the longest plausible values: "
        "20-character names, the clinic's name and phone, 'Wednesday, September 30', '10:30 PM'."
    )
    characters_max: int
    segments_max_unicode_name: int = Field(
        description="The same for a patient whose name has a letter outside the standard "
        "texting alphabet (such as Á), which sends the whole text as Unicode."
    )


class VariantInfo(WorstCase):
    pass


class TemplateOut(WorstCase):
    id: int
    name: str
    purpose: PurposeName
    body: str
    language: str
    variants: dict[str, str]
    variants_info: dict[str, VariantInfo]
    segments_max_any_language: int
    lint: list[LintFindingOut] = Field(
        description="The deliverability lint of the body, as an automated text (a campaign "
        "template: as a campaign text)."
    )
    example: str = Field(description="The body filled in with sample values.")
    created_at: datetime
    updated_at: datetime


class TemplateErrorOut(BaseModel):
    code: Literal["invalid_template"]
    message: str
    field: str
    position: int | None = Field(description="0-based character offset of the problem.")
    suggestion: str | None = Field(description='The field probably meant, e.g. "[FName]".')


class PreviewOut(WorstCase):
    purpose: PurposeName
    language: str
    lint: list[LintFindingOut]
    example: str | None = Field(description="The body filled with sample values; None if invalid.")
    error: TemplateErrorOut | None = Field(
        description="Why the template could not be saved as it is; None when it could."
    )


def template_out(shown: dict[str, Any]) -> TemplateOut:
    return TemplateOut.model_validate(shown)


@router.post("/templates/preview", response_model=PreviewOut)
def preview_template(payload: PreviewIn, caller: CallerDep, session: SessionDep) -> PreviewOut:
    """What a template would show if saved (fields, worst-case parts, lint, an example).

    Nothing is saved; a misspelled field is reported in ``error``, not refused.
    """
    shown = templates.preview(
        session, caller.org_id, payload.body, payload.purpose, payload.language
    )
    return PreviewOut.model_validate(shown)


@router.post("/templates", response_model=TemplateOut, status_code=201)
def create_template(payload: TemplateIn, caller: CallerDep, session: SessionDep) -> TemplateOut:
    """Save a template; an unknown field or a confirmation without [ConfirmCode] is a 422."""
    row = templates.create(
        session,
        caller.org_id,
        name=payload.name,
        purpose=payload.purpose,
        body=payload.body,
        language=payload.language,
        variants=payload.variants,
        actor=caller.actor,
    )
    return template_out(templates.described(row))


@router.get("/templates", response_model=list[TemplateOut])
def list_templates(
    caller: CallerDep,
    session: SessionDep,
    purpose: Annotated[PurposeName | None, Query()] = None,
) -> list[TemplateOut]:
    """The organization's templates, by name."""
    rows = templates.list_templates(session, caller.org_id, purpose)
    return [template_out(t) for t in templates.described_all(session, caller.org_id, rows)]


@router.get("/templates/{template_id}", response_model=TemplateOut)
def get_template(template_id: TemplateId, caller: CallerDep, session: SessionDep) -> TemplateOut:
    return template_out(templates.described(templates.get(session, caller.org_id, template_id)))


@router.patch("/templates/{template_id}", response_model=TemplateOut)
def patch_template(
    template_id: TemplateId, payload: TemplatePatch, caller: CallerDep, session: SessionDep
) -> TemplateOut:
    """Change a template; it is checked again as a whole. ``"variants": null`` removes them."""
    changes = payload.model_dump(exclude_unset=True)
    if "variants" in changes and changes["variants"] is None:
        changes["variants"] = {}
    row = templates.update(session, caller.org_id, template_id, actor=caller.actor, **changes)
    return template_out(templates.described(row))


@router.delete("/templates/{template_id}", status_code=204)
def delete_template(template_id: TemplateId, caller: CallerDep, session: SessionDep) -> Response:
    """Delete a template; 409 ``template_in_use`` while a rule or campaign still sends it."""
    templates.delete(session, caller.org_id, template_id, actor=caller.actor)
    return Response(status_code=204)
