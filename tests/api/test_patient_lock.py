"""A patient's own STOP can only be lifted by the patient, whatever staff record after it."""

from __future__ import annotations

import pytest

from tests.api.helpers import textable_patient
from tests.api.test_webhooks import post_signed
from tests.conftest import Org


def patient_texts(org: Org, body: str, sid: str) -> None:
    params = {
        "MessageSid": sid,
        "From": "+14155550123",
        "To": "+14155550100",
        "Body": body,
        "NumSegments": "1",
        "AccountSid": "AC" + "0" * 32,
    }
    assert post_signed(org, "/webhooks/twilio/sms", params).status_code == 200


@pytest.mark.parametrize("staff_source", ["staff", "free_text", "campaign"])
def test_staff_opt_out_then_opt_in_cannot_lift_a_patients_stop(
    ready_org: Org, staff_source: str
) -> None:
    pid = textable_patient(ready_org)
    patient_texts(ready_org, "STOP", "SMstop1")
    r = ready_org.post(f"/patients/{pid}/consent", {"action": "opt_out", "source": staff_source})
    assert r.status_code == 201, r.text
    r = ready_org.post(
        f"/patients/{pid}/consent",
        {"action": "opt_in", "level": "informational", "source": "verbal", "evidence": "asked"},
    )
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "opt_in_refused"
    assert "START" in r.json()["error"]["message"]
    state = ready_org.get(f"/patients/{pid}/consent").json()
    assert state["state"] == "opted_out" and state["locked_by_patient"] is True
    r = ready_org.post("/messages", {"patient_id": pid, "channel": "clinic", "body": "Hello"})
    assert r.status_code == 422
    assert "consent" in [c["id"] for c in r.json()["error"]["checks"] if not c["ok"]]


def test_the_patients_start_lifts_the_lock(ready_org: Org) -> None:
    pid = textable_patient(ready_org)
    patient_texts(ready_org, "STOP", "SMstop2")
    assert (
        ready_org.post(f"/patients/{pid}/consent", {"action": "opt_out", "source": "staff"})
    ).status_code == 201
    patient_texts(ready_org, "START", "SMstart2")
    state = ready_org.get(f"/patients/{pid}/consent").json()
    assert state["state"] == "opted_in" and state["locked_by_patient"] is False
    r = ready_org.post("/messages", {"patient_id": pid, "channel": "clinic", "body": "Hello"})
    assert r.status_code == 202, r.text
