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


class Renderer:
    """The campaign text of ``template`` for one patient after another."""

    def __init__(self, template: Template, org: Organization) -> None:
        self.template = template
        self.org = org
        self.office = {
            "OfficeName": org.name,
            "OfficePhone": display(org.clinic_phone) if org.clinic_phone else "",
        }
        # language -> (the text to fill, what goes before it, what goes after it)
        self._by_language: dict[str, tuple[str, str, str]] = {}

    def _parts(self, language: str) -> tuple[str, str, str]:
        found = self._by_language.get(language)
        if found is None:
            t = self.template
            body = domain.pick_body(t.body, t.language, t.variants or {}, language)
            footer = domain.campaign_footer(body, self.org.name, language)
            found = (body.rstrip() if footer.suffix else body, footer.prefix, footer.suffix)
            self._by_language[language] = found
        return found

    def text(self, first_name: str, last_name: str, language: str) -> str:
        body, prefix, suffix = self._parts(language)
        values = {"FName": first_name, "LName": last_name, **self.office}
        return f"{prefix}{domain.fill(body, values)}{suffix}"
