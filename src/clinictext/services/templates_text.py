"""The text a template produces for one patient, and what it shows before it is saved.

Filling (``values_for``, ``text_for``) and describing (``described``, ``preview``: fields,
worst-case segments, lint, a filled example) are read-only; saving and checking a template is
``services.templates``, which re-exports these names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, object_session

from clinictext.config import get_settings
from clinictext.domain import templates as domain
from clinictext.domain.checklist import SendKind
from clinictext.domain.lint import LintReport, lint
from clinictext.domain.phones import display
from clinictext.services.errors import Invalid
from clinictext.services.orgs import get_org
from clinictext.store.models import Appointment, Location, Organization, Patient, Template


def check_purpose(purpose: str) -> None:
    """Invalid unless ``purpose`` is one of ``domain.templates.PURPOSES``."""
    if purpose not in domain.PURPOSES:
        raise Invalid(
            f"'{purpose}' is not a template purpose: change it to one of "
            f"{', '.join(domain.PURPOSES)}.",
            code="invalid_template",
            field="purpose",
        )


# --- filling ---------------------------------------------------------------------------------


def _location_of(appointment: Appointment | None) -> Location | None:
    if appointment is None or appointment.location_id is None:
        return None
    session = object_session(appointment)
    return None if session is None else session.get(Location, appointment.location_id)


def confirm_url(org_id: int, code: str) -> str:
    """The link a patient may open to confirm (``[ConfirmURL]``): codes are unique within an
    organization, so the link names it."""
    return f"{get_settings().public_url.rstrip('/')}/confirm/{org_id}/{code}"


def values_for(
    org: Organization,
    patient: Patient,
    appointment: Appointment | None = None,
    *,
    location: Location | None = None,
) -> dict[str, str]:
    """The value of every field for one patient (and appointment).

    Without an appointment the appointment's fields are left out, so ``fill`` leaves them
    as written and ``text_for`` can refuse rather than send a bracket. The location defaults
    to the appointment's; date and time are in its zone, else the organization's.
    """
    location = location or _location_of(appointment)
    phone = (location.phone if location else None) or org.clinic_phone
    values = {
        "FName": patient.first_name,
        "LName": patient.last_name,
        "OfficeName": (location.name if location else None) or org.name,
        "OfficePhone": display(phone) if phone else "",
    }
    if appointment is not None:
        zone = (location.timezone if location else None) or org.timezone
        local = appointment.starts_at.astimezone(ZoneInfo(zone))
        values["ApptDate"] = domain.appt_date(local)
        values["ApptTime"] = domain.appt_time(local)
        values["ConfirmCode"] = appointment.confirm_code
        values["ConfirmURL"] = confirm_url(org.id, appointment.confirm_code)
    return values


def text_for(
    template: Template,
    org: Organization,
    patient: Patient,
    appointment: Appointment | None = None,
    *,
    location: Location | None = None,
    campaign: bool = False,
) -> str:
    """The text one patient receives: their language's variant, filled in.

    With ``campaign`` the organization's name and an opt-out line are added when the template
    lacks them. Invalid(code="template_needs_appointment") when the template uses an
    appointment's fields and no appointment is given.
    """
    body = domain.pick_body(template.body, template.language, template.variants, patient.language)
    values = values_for(org, patient, appointment, location=location)
    missing = [f for f in domain.fields_in(body) if f not in values]
    if missing:
        raise Invalid(
            f"Template '{template.name}' uses [{missing[0]}], which only an appointment can "
            "fill: send it for an appointment, or remove the field from the template.",
            code="template_needs_appointment",
            template_id=template.id,
        )
    return _render(body, values, org.name, patient.language, campaign=campaign)


def _render(
    body: str, values: Mapping[str, str], org_name: str, language: str, *, campaign: bool
) -> str:
    """``body`` filled; a campaign's with the footer the lint says it lacks (decided unfilled)."""
    if not campaign:
        return domain.fill(body, values)
    footer = domain.campaign_footer(body, org_name, language)
    filled = domain.fill(body.rstrip() if footer.suffix else body, values)
    return f"{footer.prefix}{filled}{footer.suffix}"


# --- describing ------------------------------------------------------------------------------


def lint_kind(purpose: str) -> SendKind:
    """The kind of text a template of ``purpose`` is sent as, for the lint."""
    return SendKind.CAMPAIGN if purpose == "campaign" else SendKind.AUTOMATED


def findings(report: LintReport) -> list[dict[str, Any]]:
    return [
        {
            "code": f.code,
            "severity": f.severity.value,
            "message": f.message,
            "suggestion": f.suggestion,
            "matches": list(f.matches),
        }
        for f in report.findings
    ]


def _worst(body: str, org: Organization) -> dict[str, Any]:
    phone = display(org.clinic_phone) if org.clinic_phone else None
    url = confirm_url(org.id, domain.WORST_CASE_VALUES["ConfirmCode"])
    worst = domain.worst_case(body, office_name=org.name, office_phone=phone, confirm_url=url)
    unicode = domain.worst_case_unicode(
        body, office_name=org.name, office_phone=phone, confirm_url=url
    )
    return {
        "encoding": worst.encoding,
        "segments_max": worst.segments,
        "characters_max": worst.characters,
        "segments_max_unicode_name": unicode.segments,
    }


def computed(body: str, purpose: str, org: Organization) -> dict[str, Any]:
    """What a valid body's template shows: fields, worst case, lint and a filled example."""
    fields = domain.fields_in(body)
    values = dict(domain.SAMPLE_VALUES)
    values["OfficeName"] = org.name
    if org.clinic_phone:
        values["OfficePhone"] = display(org.clinic_phone)
    example = _render(body, values, org.name, "en", campaign=purpose == "campaign")
    report = lint(body, lint_kind(purpose), org.url_policy, org.name)
    return {
        "fields": fields,
        **_worst(_as_sent(body, purpose, org), org),
        "lint": findings(report),
        "example": example,
    }


def _as_sent(body: str, purpose: str, org: Organization) -> str:
    """The template as it is counted: a campaign's with the footer it will be sent with."""
    return domain.with_campaign_footer(body, org.name) if purpose == "campaign" else body


def described(template: Template, org: Organization | None = None) -> dict[str, Any]:
    """The API's shape of a template (and the web pages'): the row plus what it will cost.

    ``org`` defaults to the template's organization, loaded through its session.
    """
    if org is None:
        session = object_session(template)
        assert session is not None, "described() needs a template loaded in a session"
        org = get_org(session, template.organization_id)
    out: dict[str, Any] = {
        "id": template.id,
        "name": template.name,
        "purpose": template.purpose,
        "body": template.body,
        "language": template.language,
        "variants": dict(template.variants or {}),
    }
    out.update(computed(template.body, template.purpose, org))
    out["variants_info"] = {
        lang: {
            "fields": domain.fields_in(text),
            **_worst(_as_sent(text, template.purpose, org), org),
        }
        for lang, text in (template.variants or {}).items()
    }
    # The most parts any language's text can take: what the office pays at worst.
    out["segments_max_any_language"] = max(
        [out["segments_max"], *(v["segments_max"] for v in out["variants_info"].values())]
    )
    out["created_at"] = template.created_at
    out["updated_at"] = template.updated_at
    return out


def described_all(
    session: Session, org_id: int, templates: Iterable[Template]
) -> list[dict[str, Any]]:
    """``described`` for many templates of one organization, loading it once."""
    org = get_org(session, org_id)
    return [described(t, org) for t in templates]


def preview(
    session: Session, org_id: int, body: str, purpose: str, language: str = "en"
) -> dict[str, Any]:
    """What ``body`` would show if saved, without saving; a bad field is reported, not raised.

    The answer has the computed fields of ``described`` and ``error`` (None, or the
    ``invalid_template`` error's fields: code, message, field, position, suggestion). The
    lint and the segments are reported even for an invalid body, counted as written.
    """
    org = get_org(session, org_id)
    check_purpose(purpose)
    try:
        domain.check(body, purpose)
    except domain.TemplateError as err:
        report = lint(body, lint_kind(purpose), org.url_policy, org.name)
        return {
            "purpose": purpose,
            "language": language,
            "fields": [],
            "encoding": report.encoding,
            "segments_max": report.segments,
            "characters_max": report.characters,
            "segments_max_unicode_name": report.segments,
            "lint": findings(report),
            "example": None,
            "error": {
                "code": "invalid_template",
                "message": err.message,
                "field": "body",
                "position": err.position,
                "suggestion": err.suggestion,
            },
        }
    return {"purpose": purpose, "language": language, **computed(body, purpose, org), "error": None}
