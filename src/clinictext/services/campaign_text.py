"""The text each patient of a campaign receives, for thousands of patients at once.

It is ``services.templates.text_for(template, org, patient, campaign=True)``: the variant
of the patient's language, the organization's name and an opt-out line added when the
template lacks them (the lint's decision), filled with the patient's names and the office's.
``text_for`` formats the office phone and decides the footer for every patient; a campaign
template has no appointment fields (the template refuses them), so everything but the names
is the same for every patient of a language, and is decided once a language here. The
tests compare the two for patients of every language.
"""

from __future__ import annotations

from clinictext.domain import templates as domain
from clinictext.domain.phones import display
from clinictext.services.errors import Invalid
from clinictext.store.models import Organization, Template


def check_fields(template: Template) -> None:
    """Invalid unless every language of ``template`` can be filled without an appointment."""
    for language, body in [(template.language, template.body), *(template.variants or {}).items()]:
        used = [f for f in domain.fields_in(body) if f in domain.APPOINTMENT_FIELDS]
        if used:
            where = "" if language == template.language else f" (its '{language}' variant)"
            raise Invalid(
                f"Template '{template.name}'{where} uses [{used[0]}], which only an appointment "
                "can fill, and a campaign is not about one appointment: choose a campaign "
                "template, or remove the field from this one.",
                code="invalid_template",
                field="template_id",
            )


# Stand-ins for the names while the rest of a text is filled once: NUL, which no template,
# name or organization name can contain (they are refused where they are saved).
_FIRST, _LAST = "\x00F\x00", "\x00L\x00"


class Renderer:
    """The campaign text of ``template`` for one patient after another."""

    def __init__(self, template: Template, org: Organization) -> None:
        self.template = template
        self.org = org
        self.office = {
            "OfficeName": org.name,
            "OfficePhone": display(org.clinic_phone) if org.clinic_phone else "",
        }
        # language -> the text with everything but the names filled in, or None when a NUL
        # somewhere means it has to be filled for each patient
        self._by_language: dict[str, tuple[str, str, str, str | None]] = {}

    def _parts(self, language: str) -> tuple[str, str, str, str | None]:
        found = self._by_language.get(language)
        if found is None:
            t = self.template
            body = domain.pick_body(t.body, t.language, t.variants or {}, language)
            footer = domain.campaign_footer(body, self.org.name, language)
            body = body.rstrip() if footer.suffix else body
            shared: str | None = None
            if "\x00" not in body + "".join(self.office.values()):
                values = {"FName": _FIRST, "LName": _LAST, **self.office}
                shared = f"{footer.prefix}{domain.fill(body, values)}{footer.suffix}"
            found = (body, footer.prefix, footer.suffix, shared)
            self._by_language[language] = found
        return found

    def text(self, first_name: str, last_name: str, language: str) -> str:
        body, prefix, suffix, shared = self._parts(language)
        if shared is not None and "\x00" not in first_name + last_name:
            return shared.replace(_FIRST, first_name).replace(_LAST, last_name)
        values = {"FName": first_name, "LName": last_name, **self.office}
        return f"{prefix}{domain.fill(body, values)}{suffix}"
