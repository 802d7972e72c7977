"""What staff do in the web app goes through the same services as the API and is audited
with the user as the actor (``user:ID``), and the API sees its effects at once."""

from __future__ import annotations

import re
from contextlib import closing

from tests.e2e.harness import Server
from tests.web.browser import Staff, signed_in_http


def test_web_actions_are_audited_with_the_user_as_actor(server: Server, staff: Staff) -> None:
    clinic = staff.clinic
    patient = clinic.patient()
    with closing(signed_in_http(server.base, staff.email, staff.password)) as http:
        page = http.get(f"/patients/{patient.id}")
        assert page.status_code == 200
        token = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
        assert token
        headers = {"X-CSRF-Token": token.group(1), "HX-Request": "true"}

        moved = http.post(
            f"/patients/{patient.id}/lead", data={"stage": "in_progress"}, headers=headers
        )
        assert moved.status_code == 200, moved.text
        sent = http.post(
            f"/patients/{patient.id}/messages",
            data={"channel": "clinic", "body": "Your appointment is on Monday at 9."},
            headers=headers,
        )
        assert sent.status_code == 200, sent.text
        opted_out = http.post(
            f"/patients/{patient.id}/consent",
            data={"action": "opt_out", "source": "verbal", "evidence": "Asked at the desk."},
            headers=headers,
        )
        assert opted_out.status_code == 200, opted_out.text

    actor = f"user:{staff.user_id}"
    assert clinic.get(f"/patients/{patient.id}/lead")["stage"] == "in_progress"
    assert clinic.get(f"/patients/{patient.id}/consent")["state"] == "opted_out"
    texts = clinic.get("/messages", patient_id=patient.id)
    assert [t["body"] for t in texts] == ["Your appointment is on Monday at 9."]

    events = clinic.get("/audit", limit=100)
    mine = {e["action"] for e in events if e["actor"] == actor}
    assert {"user.signed_in", "message.queued"} <= mine, events
    assert any(a.startswith("lead.") for a in mine), mine
    assert any(a.startswith("consent.") for a in mine), mine
    assert all(e["actor"] != "cli" for e in events if e["action"] == "message.queued")
