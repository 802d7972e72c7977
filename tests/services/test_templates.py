"""Templates service on both databases: saving, in-use refusals, and the text a patient gets."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.services import orgs, templates
from clinictext.services.errors import Conflict, Invalid, NotFound
from clinictext.store.db import transaction
from clinictext.store.models import (
    Appointment,
    AuditEvent,
    Campaign,
    Location,
    Organization,
    Patient,
    Rule,
    Template,
)
from tests.support import seed_clinic

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


def _template(s: Session, org_id: int, **kw: object) -> Template:
    args: dict[str, object] = {
        "name": "Reminder",
        "purpose": "reminder",
        "body": "Hi [FName], see you [ApptDate] at [ApptTime].",
        "actor": "t",
        "now": NOW,
    }
    args.update(kw)
    return templates.create(s, org_id, **args)  # type: ignore[arg-type]


def test_create_saves_checks_and_audits(factory: sessionmaker[Session]) -> None:
    clinic = seed_clinic(factory)
    with transaction(factory) as s:
        t = _template(s, clinic.org_id, variants={"es": "Hola [FName], le esperamos [ApptDate]."})
        tid = t.id
    with transaction(factory) as s:
        t = templates.get(s, clinic.org_id, tid)
        assert t.variants == {"es": "Hola [FName], le esperamos [ApptDate]."}
        events = s.scalars(select(AuditEvent.action).where(AuditEvent.entity == "template"))
        assert list(events) == ["template.created"]


def test_misspelled_field_is_refused_with_position_and_nothing_saved(
    factory: sessionmaker[Session],
) -> None:
    clinic = seed_clinic(factory)
    with transaction(factory) as s, pytest.raises(Invalid) as refused:
        _template(s, clinic.org_id, body="Hi [Fname], see you soon.")
    assert refused.value.code == "invalid_template"
    assert refused.value.extra == {"field": "body", "position": 3, "suggestion": "[FName]"}
    with transaction(factory) as s:
        assert s.scalars(select(Template)).all() == []


def test_bad_variant_names_its_language(factory: sessionmaker[Session]) -> None:
    clinic = seed_clinic(factory)
    with transaction(factory) as s, pytest.raises(Invalid) as refused:
        _template(s, clinic.org_id, variants={"es": "Hola [Nombre]"})
    assert refused.value.extra["field"] == "variants.es"
    assert refused.value.extra["position"] == 5


def test_duplicate_name_is_a_conflict_but_a_deleted_name_is_free(
    factory: sessionmaker[Session],
) -> None:
    clinic = seed_clinic(factory)
    with transaction(factory) as s:
        first = _template(s, clinic.org_id).id
    with transaction(factory) as s, pytest.raises(Conflict) as taken:
        _template(s, clinic.org_id, name="reminder")
    assert taken.value.code == "template_name_taken"
    with transaction(factory) as s:
        templates.delete(s, clinic.org_id, first, actor="t", now=NOW)
    with transaction(factory) as s:
        assert _template(s, clinic.org_id).id != first
        with pytest.raises(NotFound):
            templates.get(s, clinic.org_id, first)


def _rule(s: Session, org_id: int, template_id: int, *, enabled: bool = True) -> Rule:
    rule = Rule(
        organization_id=org_id,
        name="Day before",
        purpose="reminder",
        minutes_before=1440,
        do_not_send_within_minutes=60,
        template_id=template_id,
        enabled=enabled,
        created_at=NOW,
        updated_at=NOW,
    )
    s.add(rule)
    s.flush()
    return rule


def _campaign(s: Session, org_id: int, template_id: int, status: str) -> Campaign:
    campaign = Campaign(
        organization_id=org_id,
        name="Flu shots",
        template_id=template_id,
        audience={"all": True},
        status=status,
        created_by="t",
        created_at=NOW,
        updated_at=NOW,
    )
    s.add(campaign)
    s.flush()
    return campaign


def test_template_of_an_enabled_rule_cannot_be_deleted(factory: sessionmaker[Session]) -> None:
    clinic = seed_clinic(factory)
    with transaction(factory) as s:
        tid = _template(s, clinic.org_id).id
        rule_id = _rule(s, clinic.org_id, tid).id
    with transaction(factory) as s, pytest.raises(Conflict) as in_use:
        templates.delete(s, clinic.org_id, tid, actor="t")
    assert in_use.value.code == "template_in_use"
    assert "rule 'Day before'" in in_use.value.message
    with transaction(factory) as s:
        rule = s.get(Rule, rule_id)
        assert rule is not None
        rule.enabled = False
    with transaction(factory) as s:
        templates.delete(s, clinic.org_id, tid, actor="t")


@pytest.mark.parametrize(
    ("status", "in_use"),
    [
        ("draft", True),
        ("scheduled", True),
        ("running", True),
        ("paused", True),
        ("canceled", False),
        ("done", False),
    ],
)
def test_template_of_a_campaign_is_in_use_until_it_is_over(
    factory: sessionmaker[Session], status: str, in_use: bool
) -> None:
    clinic = seed_clinic(factory)
    with transaction(factory) as s:
        tid = _template(s, clinic.org_id, purpose="campaign", body="Flu shots are in.").id
        _campaign(s, clinic.org_id, tid, status)
    with transaction(factory) as s:
        if in_use:
            with pytest.raises(Conflict, match="campaign 'Flu shots'"):
                templates.delete(s, clinic.org_id, tid, actor="t")
        else:
            templates.delete(s, clinic.org_id, tid, actor="t")


def test_update_rechecks_the_whole_template(factory: sessionmaker[Session]) -> None:
    clinic = seed_clinic(factory)
    with transaction(factory) as s:
        tid = _template(s, clinic.org_id).id
    with transaction(factory) as s, pytest.raises(Invalid) as refused:
        templates.update(s, clinic.org_id, tid, actor="t", purpose="confirmation")
    assert "[ConfirmCode]" in refused.value.message
    with transaction(factory) as s:
        templates.update(
            s, clinic.org_id, tid, actor="t", purpose="confirmation", body="Reply [ConfirmCode]."
        )
    with transaction(factory) as s:
        t = templates.get(s, clinic.org_id, tid)
        assert (t.purpose, t.body) == ("confirmation", "Reply [ConfirmCode].")
        events = s.scalars(select(AuditEvent.data).where(AuditEvent.action == "template.updated"))
        assert [e["fields"] for e in events] == [["purpose", "body"]]


def test_template_in_use_keeps_its_purpose(factory: sessionmaker[Session]) -> None:
    clinic = seed_clinic(factory)
    with transaction(factory) as s:
        tid = _template(s, clinic.org_id).id
        _rule(s, clinic.org_id, tid)
    with transaction(factory) as s, pytest.raises(Conflict):
        templates.update(s, clinic.org_id, tid, actor="t", purpose="general")


def test_another_organizations_template_is_not_found(factory: sessionmaker[Session]) -> None:
    clinic = seed_clinic(factory)
    with transaction(factory) as s:
        other = orgs.create_org(s, "Other", actor="t").id
        tid = _template(s, clinic.org_id).id
    with transaction(factory) as s:
        with pytest.raises(NotFound):
            templates.get(s, other, tid)
        with pytest.raises(NotFound):
            templates.update(s, other, tid, actor="t", name="Mine")
        with pytest.raises(NotFound):
            templates.delete(s, other, tid, actor="t")
        assert templates.list_templates(s, other) == []


def _appointment(
    s: Session, org_id: int, patient_id: int, location_id: int | None, code: str = "K7M2P"
) -> Appointment:
    appointment = Appointment(
        organization_id=org_id,
        patient_id=patient_id,
        location_id=location_id,
        starts_at=datetime(2026, 12, 1, 20, 30, tzinfo=UTC),
        status="scheduled",
        confirm_code=code,
        created_by="t",
        created_at=NOW,
        updated_at=NOW,
    )
    s.add(appointment)
    s.flush()
    return appointment


def test_values_use_the_location_zone_name_and_phone(factory: sessionmaker[Session]) -> None:
    clinic = seed_clinic(factory)
    with transaction(factory) as s:
        org = s.get(Organization, clinic.org_id)
        assert org is not None
        org.clinic_phone = "+15555550100"
        org.timezone = "America/New_York"
        patient = s.get(Patient, clinic.patient_ids[0])
        assert patient is not None
        plain = _appointment(s, org.id, patient.id, None)
        values = templates.values_for(org, patient, plain)
        assert values["OfficeName"] == "Clinic"
        assert values["OfficePhone"] == "(555) 555-0100"
        assert (values["ApptDate"], values["ApptTime"]) == ("Tuesday, December 1", "3:30 PM")
        assert values["ConfirmCode"] == "K7M2P"
        assert values["ConfirmURL"].endswith(f"/confirm/{org.id}/K7M2P")
        west = Location(
            organization_id=org.id,
            name="Bayside Office",
            phone="+14155550100",
            timezone="America/Los_Angeles",
            created_at=NOW,
        )
        s.add(west)
        s.flush()
        at_west = _appointment(s, org.id, patient.id, west.id, "Q3W4E")
        values = templates.values_for(org, patient, at_west)
        assert values["OfficeName"] == "Bayside Office"
        assert values["OfficePhone"] == "(415) 555-0100"
        assert values["ApptTime"] == "12:30 PM"


def test_text_for_picks_the_patients_language_and_adds_the_campaign_footer(
    factory: sessionmaker[Session],
) -> None:
    clinic = seed_clinic(factory)
    with transaction(factory) as s:
        org = s.get(Organization, clinic.org_id)
        patient = s.get(Patient, clinic.patient_ids[0])
        assert org is not None and patient is not None
        t = _template(
            s,
            org.id,
            name="Flu",
            purpose="campaign",
            body="Hi [FName], flu shots are in.",
            variants={"es": "Hola [FName], ya tenemos vacunas."},
        )
        assert templates.text_for(t, org, patient, campaign=True) == (
            "Clinic: Hi P0, flu shots are in.\nReply STOP to opt out."
        )
        patient.language = "es-MX"
        assert templates.text_for(t, org, patient, campaign=True) == (
            "Clinic: Hola P0, ya tenemos vacunas.\nResponda STOP para cancelar."
        )


def test_text_for_refuses_appointment_fields_without_an_appointment(
    factory: sessionmaker[Session],
) -> None:
    clinic = seed_clinic(factory)
    with transaction(factory) as s:
        org = s.get(Organization, clinic.org_id)
        patient = s.get(Patient, clinic.patient_ids[0])
        assert org is not None and patient is not None
        t = _template(s, org.id)
        with pytest.raises(Invalid) as refused:
            templates.text_for(t, org, patient)
        assert refused.value.code == "template_needs_appointment"


def test_described_shows_fields_worst_case_and_lint(factory: sessionmaker[Session]) -> None:
    clinic = seed_clinic(factory)
    with transaction(factory) as s:
        t = _template(s, clinic.org_id, body="Hi [FName], please use [ConfirmURL] to confirm.")
        shown = templates.described(t)
    assert shown["fields"] == ["FName", "ConfirmURL"]
    assert shown["encoding"] == "GSM-7"
    assert shown["segments_max"] == 1
    assert [f["code"] for f in shown["lint"]] == ["confirm_url"]
    assert shown["example"].startswith("Hi Maria, please use https://")


def test_preview_reports_a_bad_field_without_raising(factory: sessionmaker[Session]) -> None:
    clinic = seed_clinic(factory)
    with transaction(factory) as s:
        shown = templates.preview(s, clinic.org_id, "Hi [Fname]", "reminder")
        assert shown["error"]["position"] == 3
        assert shown["error"]["suggestion"] == "[FName]"
        assert shown["example"] is None
        good = templates.preview(s, clinic.org_id, "Hi [FName]", "reminder")
        assert good["error"] is None and good["example"] == "Hi Maria"
        assert s.scalars(select(Template)).all() == []
