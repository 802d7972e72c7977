"""Every reason of 'Why can't I send a text message?', through the API, on both databases.

Each scenario asks can-text and then tries to send: a refused send is 422 with every
check, and writes no message, no commlog and no status event.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.helpers import add_patient, check, failing, open_lead, opt_in, textable_patient
from tests.conftest import Org

CHECK_ORDER = ["sms_enabled", "sender_number", "phone", "consent", "lead_stage", "spend_limit"]


def can_text(org: Org, pid: int, channel: str = "clinic", kind: str = "manual") -> dict[str, Any]:
    r = org.get(f"/patients/{pid}/can-text", params={"channel": channel, "kind": kind})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert [c["id"] for c in body["checks"]] == CHECK_ORDER
    for c in body["checks"]:
        assert set(c) == {"id", "ok", "detail", "fix"}
        assert c["detail"]
        assert (c["fix"] is None) == c["ok"]
    return body


def assert_refused(org: Org, rows: Any, pid: int, channel: str, expect_failed: list[str]) -> None:
    before = rows()
    r = org.post(
        "/messages", {"patient_id": pid, "channel": channel, "body": "Hello from the clinic"}
    )
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "cannot_text"
    assert [c["id"] for c in error["checks"]] == CHECK_ORDER
    assert failing(error["checks"]) == expect_failed
    after = rows()
    assert after == before
    assert after["messages"] == 0 and after["commlogs"] == 0 and after["message_events"] == 0


def test_all_checks_pass_and_the_text_is_queued(ready_org: Org, rows: Any) -> None:
    pid = textable_patient(ready_org)
    for channel in ("lead", "clinic"):
        assert can_text(ready_org, pid, channel)["can_text"] is True
    r = ready_org.post(
        "/messages", {"patient_id": pid, "channel": "clinic", "body": "See you at 3"}
    )
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued"
    counts = rows()
    assert (counts["messages"], counts["commlogs"], counts["message_events"]) == (1, 1, 1)


def test_sms_disabled_fails_sms_enabled_with_its_fix(ready_org: Org, rows: Any) -> None:
    pid = textable_patient(ready_org)
    assert ready_org.patch("/org", {"sms_enabled": False}).status_code == 200
    body = can_text(ready_org, pid)
    assert failing(body["checks"]) == ["sms_enabled"]
    assert "Enable SMS" in check(body["checks"], "sms_enabled")["fix"]
    assert_refused(ready_org, rows, pid, "clinic", ["sms_enabled"])


@pytest.mark.parametrize("registration", ["none", "pending", "rejected"])
def test_registration_not_approved_fails_sms_enabled(
    ready_org: Org, rows: Any, registration: str
) -> None:
    pid = textable_patient(ready_org)
    assert ready_org.patch("/org", {"messaging_registration": registration}).status_code == 200
    body = can_text(ready_org, pid)
    sms = check(body["checks"], "sms_enabled")
    assert not sms["ok"]
    assert "registration" in sms["detail"]
    assert "registration" in sms["fix"]
    assert_refused(ready_org, rows, pid, "clinic", ["sms_enabled"])


def test_no_sender_number_for_the_channel(make_org: Any, rows: Any) -> None:
    org = make_org()
    org.patch("/org", {"sms_enabled": True, "messaging_registration": "approved"})
    org.post("/numbers", {"number": "+15005550006", "purpose": "lead"})
    pid = textable_patient(org)
    assert can_text(org, pid, "lead")["can_text"] is True
    body = can_text(org, pid, "clinic")
    assert failing(body["checks"]) == ["sender_number"]
    assert "no clinic number" in check(body["checks"], "sender_number")["detail"]
    assert_refused(org, rows, pid, "clinic", ["sender_number"])


def test_landline_sender_awaiting_confirmation_cannot_send(make_org: Any, rows: Any) -> None:
    org = make_org()
    org.patch("/org", {"sms_enabled": True, "messaging_registration": "approved"})
    r = org.post("/numbers", {"number": "+14155550100", "purpose": "clinic", "kind": "landline"})
    assert r.json()["verification"] == "pending"
    pid = textable_patient(org)
    sender = check(can_text(org, pid)["checks"], "sender_number")
    assert not sender["ok"]
    assert "waiting for confirmation" in sender["detail"]
    assert_refused(org, rows, pid, "clinic", ["sender_number"])


@pytest.mark.parametrize(
    ("phone", "expected_status"),
    [("+1 555 555 0123", "invalid"), ("+44 20 7183 8750", "landline"), (None, "missing")],
)
def test_invalid_or_landline_wireless_phone_fails_phone(
    ready_org: Org, rows: Any, phone: str | None, expected_status: str
) -> None:
    pid = add_patient(ready_org, phone)
    assert ready_org.get(f"/patients/{pid}").json()["phone_status"] == expected_status
    if phone is not None:
        opt_in(ready_org, pid)
    body = can_text(ready_org, pid)
    phone_check = check(body["checks"], "phone")
    assert not phone_check["ok"]
    assert "Edit the patient's wireless phone" in phone_check["fix"]
    expected = ["phone"] if phone is not None else ["phone", "consent"]
    assert_refused(ready_org, rows, pid, "clinic", expected)


def test_patient_who_never_opted_in_fails_consent(ready_org: Org, rows: Any) -> None:
    pid = add_patient(ready_org)
    consent = check(can_text(ready_org, pid)["checks"], "consent")
    assert not consent["ok"]
    assert "opt in" in consent["fix"]
    assert_refused(ready_org, rows, pid, "clinic", ["consent"])


@pytest.mark.parametrize("source", ["keyword", "staff", "campaign"])
def test_opted_out_patient_fails_consent(ready_org: Org, rows: Any, source: str) -> None:
    pid = textable_patient(ready_org)
    r = ready_org.post(f"/patients/{pid}/consent", {"action": "opt_out", "source": source})
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "opted_out"
    for channel in ("lead", "clinic"):
        consent = check(can_text(ready_org, pid, channel)["checks"], "consent")
        assert not consent["ok"]
        assert "opted out" in consent["detail"]
        assert_refused(ready_org, rows, pid, channel, ["consent"])


def test_keyword_opt_out_only_the_patient_can_undo(ready_org: Org) -> None:
    pid = textable_patient(ready_org)
    ready_org.post(f"/patients/{pid}/consent", {"action": "opt_out", "source": "keyword"})
    consent = check(can_text(ready_org, pid)["checks"], "consent")
    assert "START" in consent["fix"]
    r = ready_org.post(
        f"/patients/{pid}/consent",
        {"action": "opt_in", "level": "informational", "source": "verbal"},
    )
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "opt_in_refused"
    assert "START" in r.json()["error"]["message"]
    assert ready_org.get(f"/patients/{pid}/consent").json()["state"] == "opted_out"


def test_staff_opt_out_can_be_followed_by_a_new_staff_opt_in(ready_org: Org) -> None:
    pid = textable_patient(ready_org)
    ready_org.post(f"/patients/{pid}/consent", {"action": "opt_out", "source": "staff"})
    opt_in(ready_org, pid)
    assert can_text(ready_org, pid)["can_text"] is True


@pytest.mark.parametrize(
    ("stage", "extra"),
    [
        ("closed_won", {"substatus": "scheduled"}),
        ("closed_won", {}),
        ("closed_lost", {"reason": "chose another clinic"}),
    ],
)
def test_closed_lead_blocks_the_lead_channel_but_not_the_clinic_channel(
    ready_org: Org, rows: Any, stage: str, extra: dict[str, str]
) -> None:
    pid = textable_patient(ready_org)
    r = ready_org.put(f"/patients/{pid}/lead", {"stage": stage, **extra})
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False
    lead_body = can_text(ready_org, pid, "lead")
    assert failing(lead_body["checks"]) == ["lead_stage"]
    assert "clinic channel" in check(lead_body["checks"], "lead_stage")["fix"]
    assert_refused(ready_org, rows, pid, "lead", ["lead_stage"])
    assert can_text(ready_org, pid, "clinic")["can_text"] is True
    r = ready_org.post("/messages", {"patient_id": pid, "channel": "clinic", "body": "Hi"})
    assert r.status_code == 202


def test_in_progress_lead_is_active(ready_org: Org) -> None:
    pid = textable_patient(ready_org)
    ready_org.put(f"/patients/{pid}/lead", {"stage": "in_progress", "substatus": "1st contact"})
    assert can_text(ready_org, pid, "lead")["can_text"] is True
    lead = ready_org.get(f"/patients/{pid}/lead").json()
    assert [h["stage"] for h in lead["history"]] == ["open", "in_progress"]


def test_patient_who_is_not_a_lead_cannot_be_texted_on_the_lead_channel(ready_org: Org) -> None:
    pid = add_patient(ready_org)
    opt_in(ready_org, pid)
    assert failing(can_text(ready_org, pid, "lead")["checks"]) == ["lead_stage"]
    open_lead(ready_org, pid)
    assert can_text(ready_org, pid, "lead")["can_text"] is True


def test_campaign_needs_marketing_consent(ready_org: Org) -> None:
    pid = add_patient(ready_org)
    opt_in(ready_org, pid, "informational")
    assert failing(can_text(ready_org, pid, "clinic", "campaign")["checks"]) == ["consent"]
    assert can_text(ready_org, pid, "clinic", "automated")["can_text"] is True
    opt_in(ready_org, pid, "marketing")
    assert can_text(ready_org, pid, "clinic", "campaign")["can_text"] is True


def test_spend_limit_blocks_manual_texts_only(ready_org: Org, rows: Any) -> None:
    pid = textable_patient(ready_org)
    ready_org.patch("/org", {"manual_spend_limit_usd": "0.01", "segment_price_usd": "0.0079"})
    assert (
        ready_org.post(
            "/messages", {"patient_id": pid, "channel": "clinic", "body": "first"}
        ).status_code
        == 202
    )
    spend = check(can_text(ready_org, pid)["checks"], "spend_limit")
    assert spend["ok"] is True  # $0.0079 spent of $0.01
    assert_refused_counts = rows()
    r = ready_org.post("/messages", {"patient_id": pid, "channel": "clinic", "body": "second"})
    assert r.status_code == 422
    assert failing(r.json()["error"]["checks"]) == ["spend_limit"]
    assert rows() == assert_refused_counts
    assert can_text(ready_org, pid, "clinic", "automated")["can_text"] is True
    ready_org.patch("/org", {"manual_spend_limit_usd": None})
    assert can_text(ready_org, pid)["can_text"] is True


def test_every_failing_check_is_reported_at_once(make_org: Any, rows: Any) -> None:
    org = make_org()
    pid = add_patient(org, "+44 20 7183 8750")
    org.patch("/org", {"manual_spend_limit_usd": "0"})
    body = can_text(org, pid, "lead")
    assert failing(body["checks"]) == CHECK_ORDER
    assert_refused(org, rows, pid, "lead", CHECK_ORDER)
