"""`/api/v1/appointments`: booking, listing, moves and status changes (API.md "Content and
automation"), with the lead closed on booking and the automation told of every change.

Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from clinictext.domain.appointments import CODE_ALPHABET, CODE_DIGITS, CODE_LETTERS
from clinictext.services import appointments as appointment_service
from clinictext.services import automation
from clinictext.services.clock import utcnow
from clinictext.store.db import transaction
from clinictext.store.models import (
    Appointment,
    AppointmentText,
    AuditEvent,
    Location,
    Organization,
    Rule,
    Template,
)
from tests.api.helpers import add_patient, open_lead
from tests.conftest import Org


def iso(at: datetime, offset_hours: int = -5) -> str:
    """``at`` written with an offset, as a practice system sends it."""
    from datetime import timezone

    return at.astimezone(timezone(timedelta(hours=offset_hours))).isoformat()


def ahead(days: float = 3) -> datetime:
    return (utcnow() + timedelta(days=days)).replace(microsecond=0)


def book(org: Org, patient_id: int, at: datetime | None = None, **extra: Any) -> dict[str, Any]:
    r = org.post(
        "/appointments", {"patient_id": patient_id, "starts_at": iso(at or ahead()), **extra}
    )
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def as_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@pytest.fixture
def org(ready_org: Org) -> Org:
    return ready_org


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, str | None]]:
    """What the automation was told: ("replan"|"cancel", appointment id, reason)."""
    seen: list[tuple[str, int, str | None]] = []
    monkeypatch.setattr(automation, "replan", lambda s, a, now: seen.append(("replan", a.id, None)))
    monkeypatch.setattr(
        automation,
        "cancel_texts",
        lambda s, a, now, reason: seen.append(("cancel", a.id, reason)),
    )
    return seen


def add_location(factory: sessionmaker[Session], org_id: int, name: str, tz: str | None) -> int:
    with transaction(factory) as s:
        loc = Location(organization_id=org_id, name=name, timezone=tz, created_at=utcnow())
        s.add(loc)
        s.flush()
        return loc.id


# --- booking -------------------------------------------------------------------------------


def test_booking_answers_201_with_the_start_in_utc_and_a_confirm_code(org: Org) -> None:
    pid = add_patient(org)
    year = utcnow().year + 1
    r = org.post(
        "/appointments",
        {
            "patient_id": pid,
            "starts_at": f"{year}-12-01T15:30:00-05:00",
            "provider": "Dr. Okafor",
            "external_id": "A-100",
        },
    )
    assert r.status_code == 201, r.text
    data = r.json()
    assert data["patient_id"] == pid
    assert data["patient_name"] == "Pat Lee"
    assert as_utc(data["starts_at"]) == datetime(year, 12, 1, 20, 30, tzinfo=UTC)
    assert data["starts_at"].endswith("Z")
    assert data["status"] == "scheduled"
    assert data["provider"] == "Dr. Okafor"
    assert data["external_id"] == "A-100"
    assert data["location_id"] is None
    assert data["timezone"] == "America/New_York"
    assert (data["confirmed_at"], data["confirmed_via"]) == (None, None)
    assert data["texts"] == []
    code = data["confirm_code"]
    assert len(code) == 6 and set(code) <= set(CODE_ALPHABET)
    assert set(code) & set(CODE_LETTERS) and set(code) & set(CODE_DIGITS)
    assert org.get(f"/appointments/{data['id']}").json() == data


def test_booking_plans_the_texts(org: Org, calls: list[Any]) -> None:
    appt = book(org, add_patient(org))
    assert calls == [("replan", appt["id"], None)]


def test_confirm_codes_differ_among_upcoming_appointments(org: Org) -> None:
    pid = add_patient(org)
    codes = [book(org, pid, ahead(1 + i / 10))["confirm_code"] for i in range(30)]
    assert len(set(codes)) == 30


def test_a_code_already_taken_is_drawn_again(
    org: Org, factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = add_patient(org)
    taken = book(org, pid)["confirm_code"]
    drawn = iter([taken, taken, "AC37RK"])
    monkeypatch.setattr(appointment_service, "new_confirm_code", lambda: next(drawn))
    again = book(org, pid, ahead(4))
    assert again["confirm_code"] == "AC37RK"
    with factory() as s:
        assert len(list(s.scalars(select(Appointment)))) == 2


def test_a_canceled_appointments_code_may_be_given_again(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = add_patient(org)
    first = book(org, pid)
    assert org.patch(f"/appointments/{first['id']}", {"status": "canceled"}).status_code == 200
    monkeypatch.setattr(appointment_service, "new_confirm_code", lambda: first["confirm_code"])
    assert book(org, pid, ahead(5))["confirm_code"] == first["confirm_code"]


@pytest.mark.parametrize(
    ("starts_at", "code", "words"),
    [
        ("2030-12-01T15:30:00", "invalid_time", "no time zone"),
        ("2030-12-01 15:30", "invalid_time", "no time zone"),
        ("next tuesday", "invalid_time", "is not a time"),
        ("2020-12-01T15:30:00-05:00", "invalid_start", "in the past"),
        ("2099-12-01T15:30:00-05:00", "invalid_start", "check the year"),
        ("0001-01-01T00:00:00+05:00", "invalid_time", "is not a time"),
        ("9999-12-31T23:59:59-05:00", "invalid_time", "is not a time"),
    ],
)
def test_a_bad_start_is_422_naming_the_field_and_writes_nothing(
    org: Org, rows: Callable[[], dict[str, int]], starts_at: str, code: str, words: str
) -> None:
    pid = add_patient(org)
    before = rows()
    r = org.post("/appointments", {"patient_id": pid, "starts_at": starts_at})
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert (error["code"], error["field"]) == (code, "starts_at")
    assert words in error["message"]
    assert rows() == before


def test_a_start_must_be_text_with_an_offset(org: Org) -> None:
    r = org.post("/appointments", {"patient_id": add_patient(org), "starts_at": 1700000000})
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "starts_at"


def test_an_unknown_or_foreign_patient_is_404_and_writes_nothing(
    org: Org, make_org: Callable[[str], Org], rows: Callable[[], dict[str, int]]
) -> None:
    other = make_org("Other Clinic")
    foreign = add_patient(other, "(415) 555-0199")
    before = rows()
    for pid in (foreign, 999_999):
        r = org.post("/appointments", {"patient_id": pid, "starts_at": iso(ahead())})
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "patient_not_found"
        assert r.json()["error"]["field"] == "patient_id"
    assert rows() == before


def test_a_location_of_another_organization_is_404(
    org: Org, make_org: Callable[[str], Org], factory: sessionmaker[Session]
) -> None:
    other = make_org("Other Clinic")
    theirs = add_location(factory, other.id, "Elsewhere", None)
    r = org.post(
        "/appointments",
        {"patient_id": add_patient(org), "starts_at": iso(ahead()), "location_id": theirs},
    )
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "location_not_found"


def test_a_location_gives_its_time_zone(org: Org, factory: sessionmaker[Session]) -> None:
    loc = add_location(factory, org.id, "Uptown", "America/Los_Angeles")
    appt = book(org, add_patient(org), location_id=loc)
    assert (appt["location_id"], appt["location_name"]) == (loc, "Uptown")
    assert appt["timezone"] == "America/Los_Angeles"


def test_a_duplicate_external_id_is_409_saying_what_to_patch(
    org: Org, rows: Callable[[], dict[str, int]]
) -> None:
    pid = add_patient(org)
    first = book(org, pid, external_id="PMS-7")
    before = rows()
    r = org.post(
        "/appointments", {"patient_id": pid, "starts_at": iso(ahead(9)), "external_id": "PMS-7"}
    )
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "external_id_taken"
    assert error["appointment_id"] == first["id"]
    assert f"PATCH /api/v1/appointments/{first['id']}" in error["message"]
    assert rows() == before


def test_unknown_fields_are_refused(org: Org) -> None:
    r = org.post(
        "/appointments",
        {"patient_id": add_patient(org), "starts_at": iso(ahead()), "doctor": "Who"},
    )
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "doctor"


# --- the lead closed on booking -------------------------------------------------------------


def test_booking_closes_an_active_lead_as_won_scheduled_in_its_history(org: Org) -> None:
    pid = add_patient(org)
    open_lead(org, pid)
    book(org, pid)
    lead = org.get(f"/patients/{pid}/lead").json()
    assert (lead["stage"], lead["substatus"], lead["active"]) == ("closed_won", "scheduled", False)
    last = lead["history"][-1]
    assert (last["from_stage"], last["stage"]) == ("open", "closed_won")
    assert last["actor"].startswith("api_key:")
    audit = org.get("/audit", params={"entity": "patient", "entity_id": pid}).json()
    assert "lead.closed_on_booking" in [e["action"] for e in audit]


def test_booking_leaves_a_closed_or_missing_lead_alone(org: Org) -> None:
    lost = add_patient(org)
    assert (
        org.put(
            f"/patients/{lost}/lead", {"stage": "closed_lost", "reason": "moved away"}
        ).status_code
        == 200
    )
    book(org, lost)
    assert org.get(f"/patients/{lost}/lead").json()["stage"] == "closed_lost"
    never = add_patient(org, "(415) 555-0177")
    book(org, never)
    assert org.get(f"/patients/{never}/lead").json()["stage"] is None


def test_booking_leaves_the_lead_when_the_organization_turned_it_off(
    org: Org, factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as s:
        s.execute(
            update(Organization)
            .where(Organization.id == org.id)
            .values(lead_close_on_booking=False)
        )
    pid = add_patient(org)
    open_lead(org, pid)
    book(org, pid)
    assert org.get(f"/patients/{pid}/lead").json()["stage"] == "open"


# --- listing --------------------------------------------------------------------------------


def test_list_by_patient_and_time_in_start_order_with_a_cursor(org: Org) -> None:
    ana, ben = add_patient(org), add_patient(org, "(415) 555-0150")
    base = ahead(10)
    ids = [book(org, ana, base + timedelta(hours=h))["id"] for h in (5, 1, 3, 2, 4)]
    book(org, ben, base)
    everything = org.get("/appointments", params={"patient_id": ana}).json()
    assert [a["id"] for a in everything] == [ids[1], ids[3], ids[2], ids[4], ids[0]]

    window = org.get(
        "/appointments",
        params={"from": iso(base + timedelta(hours=2)), "to": iso(base + timedelta(hours=4))},
    ).json()
    assert [a["id"] for a in window] == [ids[3], ids[2]]

    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"patient_id": ana, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = org.get("/appointments", params=params)
        assert r.status_code == 200
        pages.append([a["id"] for a in r.json()])
        cursor = r.headers.get("X-Next-Cursor")
        if not cursor:
            break
    assert pages == [[ids[1], ids[3]], [ids[2], ids[4]], [ids[0]]]


def test_list_refuses_a_time_without_a_zone_and_a_made_up_cursor(org: Org) -> None:
    r = org.get("/appointments", params={"from": "2030-01-01T00:00:00"})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "from"
    for cursor in ("abc", "-99999999999999999.1", "1.2.3"):
        r = org.get("/appointments", params={"cursor": cursor})
        assert r.status_code == 422, cursor
        assert r.json()["error"]["code"] == "invalid_cursor"


def test_another_organizations_appointment_is_404(org: Org, make_org: Callable[[str], Org]) -> None:
    other = make_org("Other Clinic")
    theirs = book(other, add_patient(other, "(415) 555-0199"))
    assert org.get(f"/appointments/{theirs['id']}").status_code == 404
    r = org.patch(f"/appointments/{theirs['id']}", {"status": "canceled"})
    assert r.status_code == 404
    assert org.get("/appointments").json() == []
    assert other.get(f"/appointments/{theirs['id']}").json()["status"] == "scheduled"


# --- moves and status changes ---------------------------------------------------------------


def test_a_move_replans_and_takes_a_confirmation_back(org: Org, calls: list[Any]) -> None:
    appt = book(org, add_patient(org))
    confirmed = org.patch(f"/appointments/{appt['id']}", {"status": "confirmed"}).json()
    assert (confirmed["status"], confirmed["confirmed_via"]) == ("confirmed", "api")
    assert confirmed["confirmed_at"] is not None
    calls.clear()
    new_start = ahead(6)
    moved = org.patch(f"/appointments/{appt['id']}", {"starts_at": iso(new_start)}).json()
    assert as_utc(moved["starts_at"]) == new_start
    assert (moved["status"], moved["confirmed_at"]) == ("scheduled", None)
    assert calls == [("replan", appt["id"], None)]
    audit = org.get("/audit", params={"entity": "appointment", "entity_id": appt["id"]}).json()
    moved_event = next(e for e in audit if e["action"] == "appointment.moved")
    assert moved_event["data"]["confirmation_cleared"] is True
    assert {"appointment.created", "appointment.confirmed"} <= {e["action"] for e in audit}


def test_the_same_start_is_not_a_move(org: Org, calls: list[Any]) -> None:
    start = ahead()
    appt = book(org, add_patient(org), start)
    org.patch(f"/appointments/{appt['id']}", {"status": "confirmed"})
    calls.clear()
    same = org.patch(f"/appointments/{appt['id']}", {"starts_at": iso(start, 2)}).json()
    assert same["status"] == "confirmed"
    assert calls == []


def test_moving_into_the_past_is_422(org: Org, rows: Callable[[], dict[str, int]]) -> None:
    appt = book(org, add_patient(org))
    before = rows()
    r = org.patch(f"/appointments/{appt['id']}", {"starts_at": iso(utcnow() - timedelta(hours=1))})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "starts_at"
    assert rows() == before


def test_canceling_cancels_its_texts_and_is_final(org: Org, calls: list[Any]) -> None:
    appt = book(org, add_patient(org))
    calls.clear()
    r = org.patch(f"/appointments/{appt['id']}", {"status": "canceled"})
    assert r.status_code == 200
    assert r.json()["status"] == "canceled"
    assert calls == [("cancel", appt["id"], "The appointment was canceled.")]
    for change in ({"status": "scheduled"}, {"status": "confirmed"}, {"starts_at": iso(ahead(8))}):
        refused = org.patch(f"/appointments/{appt['id']}", change)
        assert refused.status_code == 409, refused.text
        assert "book a new appointment" in refused.json()["error"]["message"]
    assert org.get(f"/appointments/{appt['id']}").json()["status"] == "canceled"


def test_an_appointment_cannot_be_completed_before_it_starts(org: Org) -> None:
    appt = book(org, add_patient(org))
    for status in ("completed", "no_show"):
        r = org.patch(f"/appointments/{appt['id']}", {"status": status})
        assert r.status_code == 409
        error = r.json()["error"]
        assert (error["code"], error["field"]) == ("status_change_refused", "status")
        assert "has not started yet" in error["message"]


def test_a_past_appointment_is_completed_not_moved(
    org: Org, factory: sessionmaker[Session], calls: list[Any]
) -> None:
    appt = book(org, add_patient(org))
    with transaction(factory) as s:
        s.execute(
            update(Appointment)
            .where(Appointment.id == appt["id"])
            .values(starts_at=utcnow() - timedelta(hours=2))
        )
    r = org.patch(f"/appointments/{appt['id']}", {"starts_at": iso(ahead())})
    assert r.status_code == 409
    assert "already started" in r.json()["error"]["message"]
    calls.clear()
    done = org.patch(f"/appointments/{appt['id']}", {"status": "completed"})
    assert done.json()["status"] == "completed"
    assert calls == [("cancel", appt["id"], "The appointment was marked completed.")]
    fixed = org.patch(f"/appointments/{appt['id']}", {"status": "no_show"})
    assert fixed.json()["status"] == "no_show"


def test_provider_and_location_change_and_clear(org: Org, factory: sessionmaker[Session]) -> None:
    loc = add_location(factory, org.id, "Uptown", None)
    appt = book(org, add_patient(org), provider="Dr. A")
    changed = org.patch(
        f"/appointments/{appt['id']}", {"provider": "Dr. B", "location_id": loc}
    ).json()
    assert (changed["provider"], changed["location_id"]) == ("Dr. B", loc)
    cleared = org.patch(f"/appointments/{appt['id']}", {"provider": None, "location_id": None})
    assert (cleared.json()["provider"], cleared.json()["location_id"]) == (None, None)
    refused = org.patch(f"/appointments/{appt['id']}", {"status": None})
    assert refused.status_code == 422


def test_an_unknown_status_is_422(org: Org) -> None:
    appt = book(org, add_patient(org))
    r = org.patch(f"/appointments/{appt['id']}", {"status": "done"})
    assert r.status_code == 422
    assert r.json()["error"]["fields"][0]["field"] == "status"


# --- planned texts --------------------------------------------------------------------------


def test_the_appointment_shows_each_rules_planned_text(
    org: Org, factory: sessionmaker[Session]
) -> None:
    appt = book(org, add_patient(org))
    now = utcnow()
    with transaction(factory) as s:
        template = Template(
            organization_id=org.id,
            name="Reminder",
            purpose="reminder",
            language="en",
            body="See you [ApptDate]",
            variants={},
            created_at=now,
            updated_at=now,
        )
        s.add(template)
        s.flush()
        rule = Rule(
            organization_id=org.id,
            name="Day before",
            purpose="reminder",
            minutes_before=1440,
            do_not_send_within_minutes=60,
            template_id=template.id,
            enabled=True,
            created_at=now,
            updated_at=now,
        )
        s.add(rule)
        s.flush()
        s.add(
            AppointmentText(
                organization_id=org.id,
                appointment_id=appt["id"],
                rule_id=rule.id,
                due_at=now + timedelta(days=2),
                state="skipped",
                reason="The patient has not opted in.",
                updated_at=now,
            )
        )
        rule_id = rule.id
    texts = org.get(f"/appointments/{appt['id']}").json()["texts"]
    assert len(texts) == 1
    text = texts[0]
    assert (text["rule_id"], text["rule_name"], text["purpose"]) == (
        rule_id,
        "Day before",
        "reminder",
    )
    assert (text["state"], text["reason"]) == ("skipped", "The patient has not opted in.")
    assert (text["message_id"], text["message_status"]) == (None, None)


def test_every_change_is_audited_with_its_actor(org: Org, factory: sessionmaker[Session]) -> None:
    appt = book(org, add_patient(org))
    org.patch(f"/appointments/{appt['id']}", {"provider": "Dr. C"})
    org.patch(f"/appointments/{appt['id']}", {"status": "canceled"})
    with factory() as s:
        events = list(
            s.scalars(
                select(AuditEvent)
                .where(AuditEvent.entity == "appointment", AuditEvent.entity_id == appt["id"])
                .order_by(AuditEvent.id)
            )
        )
    assert [e.action for e in events] == [
        "appointment.created",
        "appointment.updated",
        "appointment.status_changed",
    ]
    assert all(e.actor.startswith("api_key:") for e in events)
    assert events[-1].data == {"from": "scheduled", "to": "canceled"}


def test_with_a_rule_booking_plans_its_text_and_canceling_cancels_it(org: Org) -> None:
    body = "Hi [FName], see you [ApptDate] at [ApptTime]."
    r = org.post("/templates", {"name": "Reminder", "purpose": "reminder", "body": body})
    assert r.status_code == 201, r.text
    rule = org.post(
        "/rules",
        {
            "name": "Day before",
            "purpose": "reminder",
            "minutes_before": 1440,
            "do_not_send_within_minutes": 60,
            "template_id": r.json()["id"],
            "enabled": True,
        },
    )
    assert rule.status_code == 201, rule.text
    start = ahead(5)
    appt = book(org, add_patient(org), start)
    [planned] = appt["texts"]
    assert (planned["rule_name"], planned["state"]) == ("Day before", "planned")
    assert as_utc(planned["due_at"]) == start - timedelta(days=1)

    moved = org.patch(f"/appointments/{appt['id']}", {"starts_at": iso(start + timedelta(days=1))})
    assert as_utc(moved.json()["texts"][0]["due_at"]) == start

    canceled = org.patch(f"/appointments/{appt['id']}", {"status": "canceled"}).json()
    assert canceled["texts"][0]["state"] == "canceled"
    assert canceled["texts"][0]["reason"]
