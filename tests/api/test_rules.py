"""/api/v1/rules on both databases: the contract's shapes, the plan every upcoming
appointment gets, and refusals that name the field and write nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.services.clock import utcnow
from clinictext.store.models import AppointmentText, AuditEvent
from tests.api.helpers import add_patient
from tests.conftest import Org

REMINDER_BODY = "Hi [FName], see you [ApptDate] at [ApptTime] at [OfficeName]."
CONFIRMATION_BODY = "Hi [FName], please confirm [ApptDate] at [ApptTime]: reply [ConfirmCode]."


def template(org: Org, purpose: str = "reminder", name: str | None = None) -> int:
    body = CONFIRMATION_BODY if purpose == "confirmation" else REMINDER_BODY
    r = org.post(
        "/templates", {"name": name or f"{purpose} text", "purpose": purpose, "body": body}
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def rule_body(template_id: int, **changes: Any) -> dict[str, Any]:
    return {
        "name": "Day before",
        "purpose": "reminder",
        "minutes_before": 1440,
        "do_not_send_within_minutes": 60,
        "template_id": template_id,
        "enabled": True,
        **changes,
    }


def book(org: Org, patient_id: int, days: float) -> int:
    starts = (utcnow() + timedelta(days=days)).replace(microsecond=0).isoformat()
    r = org.post("/appointments", {"patient_id": patient_id, "starts_at": starts})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def texts(factory: sessionmaker[Session], rule_id: int) -> dict[int, AppointmentText]:
    with factory() as s:
        return {
            t.appointment_id: t
            for t in s.scalars(select(AppointmentText).where(AppointmentText.rule_id == rule_id))
        }


@pytest.fixture
def org(ready_org: Org) -> Org:
    return ready_org


def test_create_answers_the_contract_shape_and_plans_every_upcoming_appointment(
    org: Org, factory: sessionmaker[Session]
) -> None:
    pid = add_patient(org)
    appointments = [book(org, pid, days) for days in (2, 5, 9)]
    template_id = template(org)
    r = org.post("/rules", rule_body(template_id))
    assert r.status_code == 201, r.text
    rule = r.json()
    assert {k: rule[k] for k in rule_body(template_id)} == rule_body(template_id)
    assert isinstance(rule["id"], int)
    assert rule["description"] == (
        "Reminder 1 day before each appointment, not within 1 hour of its start."
    )
    assert rule["texts"] == {"planned": 3, "queued": 0, "skipped": 0, "canceled": 0}
    planned = texts(factory, rule["id"])
    assert sorted(planned) == sorted(appointments)
    assert {t.state for t in planned.values()} == {"planned"}


def test_an_appointment_booked_after_the_rule_is_planned_too(
    org: Org, factory: sessionmaker[Session]
) -> None:
    rule_id = org.post("/rules", rule_body(template(org))).json()["id"]
    appointment = book(org, add_patient(org), 3)
    (text,) = texts(factory, rule_id).values()
    assert text.appointment_id == appointment and text.state == "planned"


def test_list_get_patch_and_delete(org: Org, factory: sessionmaker[Session]) -> None:
    reminder = org.post("/rules", rule_body(template(org))).json()
    confirmation = org.post(
        "/rules",
        rule_body(
            template(org, "confirmation"),
            name="Confirm",
            purpose="confirmation",
            minutes_before=2880,
            do_not_send_within_minutes=0,
        ),
    ).json()
    listed = org.get("/rules").json()
    assert [r["id"] for r in listed] == [reminder["id"], confirmation["id"]]
    assert org.get(f"/rules/{confirmation['id']}").json()["purpose"] == "confirmation"

    r = org.patch(f"/rules/{reminder['id']}", {"minutes_before": 120, "name": "Two hours"})
    assert r.status_code == 200, r.text
    assert (r.json()["minutes_before"], r.json()["name"]) == (120, "Two hours")

    assert org.delete(f"/rules/{reminder['id']}").status_code == 204
    assert org.get(f"/rules/{reminder['id']}").status_code == 404
    assert [r["id"] for r in org.get("/rules").json()] == [confirmation["id"]]
    with factory() as s:
        actions = list(
            s.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.entity == "rule", AuditEvent.entity_id == reminder["id"])
                .order_by(AuditEvent.id)
            )
        )
    assert actions == ["rule.created", "rule.updated", "rule.deleted"]


def test_changing_the_offset_moves_the_planned_texts(
    org: Org, factory: sessionmaker[Session]
) -> None:
    appointment = book(org, add_patient(org), 4)
    rule_id = org.post("/rules", rule_body(template(org))).json()["id"]
    before = texts(factory, rule_id)[appointment].due_at
    assert org.patch(f"/rules/{rule_id}", {"minutes_before": 2880}).status_code == 200
    assert texts(factory, rule_id)[appointment].due_at == before - timedelta(days=1)


def test_turning_a_rule_off_cancels_its_planned_texts_with_a_reason_and_on_plans_again(
    org: Org, factory: sessionmaker[Session]
) -> None:
    appointment = book(org, add_patient(org), 4)
    rule_id = org.post("/rules", rule_body(template(org))).json()["id"]
    off = org.patch(f"/rules/{rule_id}", {"enabled": False})
    assert off.status_code == 200 and off.json()["enabled"] is False
    assert off.json()["texts"]["canceled"] == 1
    text = texts(factory, rule_id)[appointment]
    assert (text.state, text.reason) == ("canceled", "The rule was turned off.")
    on = org.patch(f"/rules/{rule_id}", {"enabled": True})
    assert on.json()["texts"] == {"planned": 1, "queued": 0, "skipped": 0, "canceled": 0}


def test_deleting_a_rule_cancels_its_planned_texts(
    org: Org, factory: sessionmaker[Session]
) -> None:
    appointment = book(org, add_patient(org), 4)
    rule_id = org.post("/rules", rule_body(template(org))).json()["id"]
    assert org.delete(f"/rules/{rule_id}").status_code == 204
    text = texts(factory, rule_id)[appointment]
    assert (text.state, text.reason) == ("canceled", "The rule was deleted.")


def test_a_disabled_rule_plans_nothing(org: Org, factory: sessionmaker[Session]) -> None:
    book(org, add_patient(org), 4)
    rule_id = org.post("/rules", rule_body(template(org), enabled=False)).json()["id"]
    assert texts(factory, rule_id) == {}


@pytest.mark.parametrize(
    ("changes", "field", "says"),
    [
        ({"minutes_before": -60}, "minutes_before", "between 1 and 43,200"),
        ({"minutes_before": 0}, "minutes_before", "between 1 and 43,200"),
        ({"minutes_before": 10_000_000}, "minutes_before", "30 days"),
        ({"do_not_send_within_minutes": -1}, "do_not_send_within_minutes", "cannot be negative"),
        ({"do_not_send_within_minutes": 1440}, "do_not_send_within_minutes", "at most 1,439"),
        ({"do_not_send_within_minutes": 5000}, "do_not_send_within_minutes", "less than"),
        ({"name": "   "}, "name", "needs a name"),
    ],
)
def test_absurd_offsets_are_refused_with_the_field_and_nothing_written(
    org: Org, rows: Any, changes: dict[str, Any], field: str, says: str
) -> None:
    template_id = template(org)
    before = rows()
    r = org.post("/rules", rule_body(template_id, **changes))
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_rule"
    assert error["field"] == field
    assert says in error["message"]
    assert rows() == before


def test_a_template_of_another_purpose_is_refused(org: Org, rows: Any) -> None:
    reminder_template = template(org)
    before = rows()
    r = org.post(
        "/rules",
        rule_body(reminder_template, purpose="confirmation", name="Confirm"),
    )
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["field"] == "template_id"
    assert "a confirmation rule sends a confirmation template" in error["message"]
    assert "[ConfirmCode]" in error["message"]
    assert rows() == before


def test_unknown_deleted_and_other_organizations_templates_are_not_found(
    org: Org, make_org: Any, rows: Any
) -> None:
    deleted = template(org, name="Old one")
    assert org.delete(f"/templates/{deleted}").status_code == 204
    other = template(make_org("Other"), name="Theirs")
    before = rows()
    for template_id in (999_999, deleted, other):
        r = org.post("/rules", rule_body(template_id))
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "template_not_found"
        assert r.json()["error"]["field"] == "template_id"
    assert rows() == before


def test_a_patch_is_checked_as_a_whole(org: Org) -> None:
    rule_id = org.post("/rules", rule_body(template(org))).json()["id"]
    r = org.patch(f"/rules/{rule_id}", {"minutes_before": 30})  # the margin is 60
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "do_not_send_within_minutes"
    assert org.get(f"/rules/{rule_id}").json()["minutes_before"] == 1440
    r = org.patch(f"/rules/{rule_id}", {"purpose": "confirmation"})  # its template: a reminder
    assert r.status_code == 422 and r.json()["error"]["field"] == "template_id"
    assert org.patch(f"/rules/{rule_id}", {"enabled": None}).status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"minutes_before": "1440"},
        {"minutes_before": 14.5},
        {"enabled": "yes"},
        {"purpose": "birthday"},
        {"colour": "red"},
        {"template_id": 0},
    ],
)
def test_malformed_requests_are_refused(org: Org, body: dict[str, Any]) -> None:
    r = org.post("/rules", {**rule_body(template(org)), **body})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_request"


def test_another_organizations_rule_is_not_found(org: Org, make_org: Any) -> None:
    rule_id = org.post("/rules", rule_body(template(org))).json()["id"]
    other = make_org("Other")
    assert other.get(f"/rules/{rule_id}").status_code == 404
    assert other.patch(f"/rules/{rule_id}", {"enabled": False}).status_code == 404
    assert other.delete(f"/rules/{rule_id}").status_code == 404
    assert other.get("/rules").json() == []
    assert org.get(f"/rules/{rule_id}").json()["enabled"] is True


def test_an_enabled_rule_keeps_its_template_from_being_deleted(org: Org) -> None:
    template_id = template(org)
    org.post("/rules", rule_body(template_id))
    r = org.delete(f"/templates/{template_id}")
    assert r.status_code == 409 and r.json()["error"]["code"] == "template_in_use"


def test_times_in_answers_are_utc(org: Org) -> None:
    rule = org.post("/rules", rule_body(template(org))).json()
    created = datetime.fromisoformat(rule["created_at"].replace("Z", "+00:00"))
    assert created.utcoffset() == UTC.utcoffset(None)
