"""The [ConfirmURL] link: a patient opens it without signing in, sees where and when, and
confirms with one button; a wrong or old link says to call the clinic and changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from playwright.sync_api import Page, expect

from tests.e2e.harness import Server
from tests.web.browser import Staff, assert_accessible, screenshot


def _book(staff: Staff) -> dict[str, object]:
    patient = staff.clinic.patient()
    starts = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    answer = staff.clinic.post(
        "/appointments",
        {"patient_id": patient.id, "starts_at": starts.isoformat()},
        expect=201,
    )
    data: dict[str, object] = answer.json()
    return data


def test_a_patient_confirms_from_the_link_without_signing_in(
    server: Server, page: Page, staff: Staff
) -> None:
    booked = _book(staff)
    page.goto(f"{server.base}/confirm/{staff.clinic.org_id}/{booked['confirm_code']}")
    expect(page.get_by_role("heading", name="Your appointment at Web Clinic")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    assert_accessible(page)
    screenshot(page, "confirm-link")
    link = page.url
    page.get_by_role("button", name="Confirm my appointment").click()
    expect(page.get_by_role("status")).to_have_text("Thank you: your appointment is confirmed.")
    shown = staff.clinic.get(f"/appointments/{booked['id']}")
    assert shown["status"] == "confirmed"
    assert shown["confirmed_via"] == "link"
    # Opening it again says so, and offers nothing more to press.
    page.goto(link)
    expect(page.get_by_role("status")).to_have_text("This appointment is confirmed.")
    expect(page.get_by_role("button", name="Confirm my appointment")).to_have_count(0)


def test_a_wrong_or_foreign_link_says_to_call_and_confirms_nothing(
    server: Server, staff: Staff
) -> None:
    booked = _book(staff)
    code = str(booked["confirm_code"])
    other_org = staff.clinic.org_id + 1000
    for path in (
        f"/confirm/{staff.clinic.org_id}/ZZZZ99",
        f"/confirm/{other_org}/{code}",
        f"/confirm/{staff.clinic.org_id}/{'A' * 40}",
        f"/confirm/{staff.clinic.org_id}/%00%01",
    ):
        answer = httpx.post(server.base + path, timeout=30)
        assert answer.status_code == 404, (path, answer.text)
        assert "We could not find that appointment" in answer.text
    too_long = httpx.get(f"{server.base}/confirm/{staff.clinic.org_id}/{'A' * 41}", timeout=30)
    assert too_long.status_code in (404, 422)
    assert staff.clinic.get(f"/appointments/{booked['id']}")["status"] == "scheduled"
