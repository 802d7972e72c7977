"""Queued messages, their detail and history, commlogs and the audit trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.api.schemas import MessageOut
from clinictext.services.messages import store_new
from clinictext.store.db import transaction
from clinictext.store.models import Commlog
from tests.api.helpers import textable_patient
from tests.conftest import Org
from tests.support import received_message


def send(org: Org, pid: int, body: str = "Your cleaning is tomorrow at 3pm.") -> dict[str, Any]:
    r = org.post("/messages", {"patient_id": pid, "channel": "clinic", "body": body})
    assert r.status_code == 202, r.text
    return dict(r.json())


def test_queued_message_detail_has_history_encoding_and_a_diagnosis(ready_org: Org) -> None:
    pid = textable_patient(ready_org)
    sent = send(ready_org, pid, "Hi \u2014 your appointment is confirmed \U0001f600")
    detail = ready_org.get(f"/messages/{sent['id']}").json()
    assert detail["status"] == "queued"
    assert detail["label"] == "Pending"
    assert detail["direction"] == "outbound"
    assert detail["kind"] == "manual"
    assert detail["channel"] == "clinic"
    assert detail["encoding"] == "UCS-2"  # the em dash and the emoji force UCS-2
    assert detail["segments"] == 1
    assert detail["to"] == "+14155550123"
    assert detail["from"] == "+14155550100"
    assert [h["status"] for h in detail["history"]] == ["queued"]
    assert detail["diagnosis"]["summary"].startswith("Pending")
    assert detail["error_code"] is None and detail["provider_id"] is None


def test_lead_channel_text_goes_from_the_lead_number(ready_org: Org) -> None:
    pid = textable_patient(ready_org)
    r = ready_org.post("/messages", {"patient_id": pid, "channel": "lead", "body": "Welcome!"})
    assert r.status_code == 202
    assert r.json()["kind"] == "lead"
    assert r.json()["from"] == "+15005550006"


def test_long_gsm_text_counts_concatenated_segments(ready_org: Org) -> None:
    pid = textable_patient(ready_org)
    detail = send(ready_org, pid, "a" * 161)
    assert (detail["encoding"], detail["segments"]) == ("GSM-7", 2)


def test_messages_list_newest_first_with_a_cursor(ready_org: Org) -> None:
    pid = textable_patient(ready_org)
    ids = [send(ready_org, pid, f"text {i}")["id"] for i in range(5)]
    first = ready_org.get("/messages", params={"limit": 2})
    assert [m["id"] for m in first.json()] == ids[::-1][:2]
    cursor = first.headers["x-next-cursor"]
    second = ready_org.get("/messages", params={"limit": 2, "cursor": cursor})
    assert [m["id"] for m in second.json()] == ids[::-1][2:4]
    third = ready_org.get(
        "/messages", params={"limit": 2, "cursor": second.headers["x-next-cursor"]}
    )
    assert [m["id"] for m in third.json()] == ids[:1]
    assert "x-next-cursor" not in third.headers
    assert len(ready_org.get(f"/patients/{pid}/messages").json()) == 5
    assert ready_org.get("/messages", params={"status": "delivered"}).json() == []
    assert len(ready_org.get("/messages", params={"direction": "outbound"}).json()) == 5


def _insert_received_text(factory: sessionmaker[Session], org_id: int, pid: int) -> int:
    """A text the patient sent, stored as inbound processing stores it; its commlog's id."""
    with transaction(factory) as session:
        message = store_new(session, received_message(org_id, pid, "Thanks!", provider_id="SMin1"))
        session.flush()
        return int(session.scalar(select(Commlog.id).where(Commlog.message_id == message.id)))


def test_sent_commlog_is_soft_deleted_and_audited(ready_org: Org, rows: Any) -> None:
    pid = textable_patient(ready_org)
    message = send(ready_org, pid)
    commlogs = ready_org.get("/commlogs", params={"patient_id": pid}).json()
    assert [(c["message_id"], c["direction"], c["deletable"]) for c in commlogs] == [
        (message["id"], "outbound", True)
    ]
    before = rows()
    r = ready_org.delete(f"/commlogs/{commlogs[0]['id']}")
    assert r.status_code == 204
    assert ready_org.get("/commlogs", params={"patient_id": pid}).json() == []
    after = rows()
    assert after["commlogs"] == before["commlogs"]  # soft delete: the row stays
    assert after["audit_events"] == before["audit_events"] + 1
    audit = ready_org.get("/audit", params={"entity": "commlog"}).json()
    assert audit[0]["action"] == "commlog.deleted"
    assert audit[0]["entity_id"] == commlogs[0]["id"]
    assert audit[0]["actor"].startswith("api_key:")
    assert ready_org.get(f"/messages/{message['id']}").status_code == 200
    again = ready_org.delete(f"/commlogs/{commlogs[0]['id']}")
    assert again.status_code == 404


def test_received_commlog_cannot_be_deleted(ready_org: Org, factory: Any, rows: Any) -> None:
    pid = textable_patient(ready_org)
    commlog_id = _insert_received_text(factory, ready_org.id, pid)
    listed = ready_org.get("/commlogs", params={"patient_id": pid}).json()
    assert [(c["id"], c["deletable"]) for c in listed] == [(commlog_id, False)]
    before = rows()
    r = ready_org.delete(f"/commlogs/{commlog_id}")
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "commlog_not_deletable"
    assert "received" in r.json()["error"]["message"]
    assert rows() == before


def test_staff_actions_are_in_the_audit_log(ready_org: Org) -> None:
    pid = textable_patient(ready_org)
    send(ready_org, pid)
    actions = [e["action"] for e in ready_org.get("/audit").json()]
    for expected in (
        "message.queued",
        "lead.stage_changed",
        "consent.opt_in",
        "patient.created",
        "number.added",
        "org.updated",
    ):
        assert expected in actions
    for event in ready_org.get("/audit").json():
        assert "Pat" not in str(event["data"])  # no names or bodies in the audit data


def test_consent_history_is_append_only_and_covers_the_phone(ready_org: Org) -> None:
    pid = textable_patient(ready_org)
    ready_org.post(f"/patients/{pid}/consent", {"action": "opt_out", "source": "staff"})
    consent = ready_org.get(f"/patients/{pid}/consent").json()
    assert consent["state"] == "opted_out"
    assert [h["action"] for h in consent["history"]] == ["opt_in", "opt_out"]
    # a second patient record with the same phone shares the opt-out: it is per number
    other = ready_org.post(
        "/patients", {"first_name": "Sam", "last_name": "Lee", "phone": "+14155550123"}
    ).json()
    assert ready_org.get(f"/patients/{other['id']}/consent").json()["state"] == "opted_out"


def test_changing_the_phone_changes_whose_consent_applies(ready_org: Org) -> None:
    pid = textable_patient(ready_org)
    r = ready_org.patch(f"/patients/{pid}", {"phone": "(415) 555-0177"})
    assert r.json()["phone"] == "+14155550177"
    assert ready_org.get(f"/patients/{pid}/consent").json()["state"] == "none"
    r = ready_org.patch(f"/patients/{pid}", {"phone": "(415) 555-0123"})
    assert ready_org.get(f"/patients/{pid}/consent").json()["state"] == "opted_in"


def test_patient_search_by_phone_and_name(ready_org: Org) -> None:
    pid = textable_patient(ready_org)
    found = ready_org.get("/patients", params={"phone": "415-555-0123"}).json()
    assert [p["id"] for p in found] == [pid]
    assert [p["id"] for p in ready_org.get("/patients", params={"q": "pat l"}).json()] == [pid]
    assert ready_org.get("/patients", params={"q": "%"}).json() == []


def test_openapi_is_served(client: Any) -> None:
    spec = client.get("/openapi.json").json()
    assert "/api/v1/patients/{patient_id}/can-text" in spec["paths"]
    assert client.get("/healthz").json()["status"] == "ok"


def test_a_message_answer_is_exactly_what_its_declared_model_gives(ready_org: Org) -> None:
    """The send, get and cancel answers are written without FastAPI validating them again:
    each must come out of validation against ``MessageOut`` unchanged, with the right
    content type and status (a value of the wrong type, say an enum or a naive time,
    would not)."""
    pid = textable_patient(ready_org)
    sent = ready_org.post(
        "/messages", {"patient_id": pid, "channel": "clinic", "body": "Caf\u00e9 at 3pm \U0001f600"}
    )
    got = ready_org.get(f"/messages/{sent.json()['id']}")
    canceled = ready_org.post(f"/messages/{sent.json()['id']}/cancel")
    for answer, status in ((sent, 202), (got, 200), (canceled, 200)):
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/json"
        body = answer.json()
        given = {
            ("from_" if k == "from" else k): v for k, v in body.items()
        }  # "from" is output-only
        again = MessageOut.model_validate(given)
        assert again.model_dump(mode="json", by_alias=True) == body
    assert sent.json()["body"] == "Caf\u00e9 at 3pm \U0001f600"
    assert canceled.json()["status"] == "canceled" and canceled.json()["diagnosis"] is not None
    assert [h["status"] for h in canceled.json()["history"]] == ["queued", "canceled"]
