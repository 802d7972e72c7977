"""What the template editor holds and shows: the template as typed (its message, a version
per language and the empty slot for another), the refusals of what was typed, and the
preview of each text in the words staff read.

The preview is the templates service's ``preview``, the answer of
``POST /api/v1/templates/preview``: this module only words it, and finds the bracketed text
a suggestion replaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Annotated, Any

from fastapi import Depends, Form
from sqlalchemy.orm import Session

from clinictext.api.schemas import BROKEN_TEXT, has_broken_text
from clinictext.domain.content import MAX_BODY_CHARS
from clinictext.domain.templates import FIELDS
from clinictext.services import templates
from clinictext.services.errors import ServiceError
from clinictext.store.models import Template
from clinictext.web.forms import FORM_ERROR
from clinictext.web.pages.composer import SEVERITY_TONES, SEVERITY_WORDS

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


@dataclass(frozen=True)
class Typed:
    """The editor's form as posted. Versions come as (language, text) pairs in page order;
    a pair without a language is the slot for another language's version."""

    name: str
    purpose: str
    language: str
    body: str
    variant_language: list[str]
    variant_body: list[str]

    def draft(self, template_id: int | None) -> Draft:
        variants: list[Version] = []
        loose = ""
        pairs = zip_longest(self.variant_language, self.variant_body, fillvalue="")
        for lang, text in pairs:
            if lang.strip():
                variants.append(Version(f"v{len(variants)}", lang.strip(), _text(text)))
            elif text.strip() and not loose:
                loose = _text(text)
        return Draft(
            template_id=template_id,
            name=self.name,
            purpose=self.purpose,
            language=self.language.strip(),
            body=_text(self.body),
            variants=variants,
            new=Version(NEW, "", loose),
        )


def typed_form(
    name: FormText = "",
    purpose: FormText = "",
    language: FormText = "",
    body: FormText = "",
    variant_language: FormTexts = [],  # noqa: B006 (FastAPI copies a default)
    variant_body: FormTexts = [],  # noqa: B006
) -> Typed:
    return Typed(name, purpose, language, body, variant_language, variant_body)


# The editor's fields, as every route that reads the form takes them.
TypedForm = Annotated[Typed, Depends(typed_form)]


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
