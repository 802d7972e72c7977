"""The organization's lead automation settings: closing a lead on booking (on by default)
and closing silent leads after a number of days (off by default)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Org


def test_a_new_organization_closes_leads_on_booking_and_keeps_silent_leads_open(
    make_org: Any,
) -> None:
    org: Org = make_org()
    data = org.get("/org").json()
    assert data["lead_close_on_booking"] is True
    assert data["lead_inactivity_days"] is None


def test_lead_automation_settings_are_saved_audited_and_cleared(make_org: Any) -> None:
    org: Org = make_org()
    answer = org.patch("/org", {"lead_close_on_booking": False, "lead_inactivity_days": 30})
    assert answer.status_code == 200, answer.text
    assert answer.json()["lead_close_on_booking"] is False
    assert answer.json()["lead_inactivity_days"] == 30
    assert org.get("/org").json()["lead_inactivity_days"] == 30
    events = org.get("/audit").json()
    changed = [e for e in events if e["action"] == "org.updated"]
    assert changed and changed[0]["data"]["lead_inactivity_days"] == {"from": None, "to": 30}

    cleared = org.patch("/org", {"lead_inactivity_days": None})
    assert cleared.status_code == 200
    assert cleared.json()["lead_inactivity_days"] is None
    # null for the switch means "unchanged", not "off".
    unchanged = org.patch("/org", {"lead_close_on_booking": None}).json()
    assert unchanged["lead_close_on_booking"] is False


@pytest.mark.parametrize("days", [0, -3, 366, "30", 2.5, True])
def test_an_inactivity_period_out_of_range_is_refused_and_nothing_changes(
    make_org: Any, rows: Any, days: Any
) -> None:
    org: Org = make_org()
    before = rows()
    answer = org.patch("/org", {"lead_inactivity_days": days, "lead_close_on_booking": False})
    assert answer.status_code == 422
    body = answer.json()["error"]
    assert body["message"]
    assert rows() == before
    assert org.get("/org").json()["lead_close_on_booking"] is True
