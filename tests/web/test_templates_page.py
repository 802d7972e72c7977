"""The templates page in a real browser: a template written with its live preview (a
misspelled field found as it is typed, with its position and the field it meant, the
segments once filled, the lint), refusals next to their field keeping what was typed, a
version in another language, deleting a template a rule still sends, and the reminder and
confirmation rules added, refused and switched off."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.e2e.harness import Clinic, Server
from tests.web.browser import (
    Staff,
    assert_accessible,
    screenshot,
    sign_in,
)


def _open_templates(page: Page, server: Server, user: Staff) -> None:
    sign_in(page, server.base, user.email, user.password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Templates").click()
    expect(page).to_have_url(re.compile(r"/templates$"))
    expect(page.get_by_role("heading", name="Templates", exact=True)).to_be_visible()


def _new_template(page: Page) -> None:
    page.get_by_role("link", name="New template").click()
    expect(page).to_have_url(re.compile(r"/templates/new$"))
    expect(page.get_by_role("heading", name="New template")).to_be_visible()


def _preview(page: Page, label: str = "Message") -> Locator:
    name = "Preview" if label == "Message" else f"Preview of {label}"
    return page.get_by_role("region", name=name, exact=True)


def _templates(clinic: Clinic) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = clinic.get("/templates")
    return listed


def _template(clinic: Clinic, name: str, purpose: str, body: str) -> dict[str, Any]:
    made: dict[str, Any] = clinic.post(
        "/templates", {"name": name, "purpose": purpose, "body": body}, expect=201
    ).json()
    return made


def test_a_reminder_is_written_with_a_live_preview_that_finds_a_misspelled_field_and_saved(
    server: Server, page: Page, staff: Staff
) -> None:
    _open_templates(page, server, staff)
    expect(page.get_by_role("region", name="Message templates")).to_contain_text("No templates yet")
    _new_template(page)
    page.get_by_label("Name", exact=True).fill("Day-before reminder")
    expect(page.get_by_label("Purpose")).to_have_value("reminder")
    box = page.get_by_label("Message", exact=True)
    preview = _preview(page)

    # A misspelled field is found as it is typed, with where it is and what it should be.
    box.fill("Hi [Fname], see you [ApptDate] at [ApptTime].")
    status = preview.get_by_role("status")
    expect(status).to_contain_text("[Fname]")
    expect(status).to_contain_text("character 4")
    expect(status).to_contain_text("[FName]")
    expect(preview).to_contain_text("Did you mean [FName]?")
    screenshot(page, "template-editor-misspelled")
    preview.get_by_role("button", name="Change [Fname] to [FName]").click()
    expect(box).to_have_value("Hi [FName], see you [ApptDate] at [ApptTime].")

    # Filled with sample values, the worst case once filled, no finding yet.
    expect(status).to_have_text("Up to 1 segment once fields are filled (GSM-7).")
    expect(preview).to_contain_text("Hi Maria, see you Tuesday, December 1 at 3:30 PM.")
    expect(preview.locator("li[data-code]")).to_have_count(0)

    # A field added with its button, at the end of the text.
    page.get_by_role("group", name="Insert a field into Message").get_by_role(
        "button", name="Insert [OfficePhone]"
    ).click()
    expect(box).to_have_value("Hi [FName], see you [ApptDate] at [ApptTime]. [OfficePhone]")

    # Capitals and a link: the lint says what carriers may filter; longer: two segments.
    box.fill(
        "Hi [FName], this is [OfficeName]. PLEASE ARRIVE EARLY for your visit on [ApptDate] "
        "at [ApptTime]. Directions: https://example.com/directions. Questions? Call "
        "[OfficePhone]."
    )
    expect(status).to_have_text("Up to 2 segments once fields are filled (GSM-7).")
    expect(preview.locator("li[data-code='all_caps']")).to_contain_text("capital letters")
    expect(preview.locator("li[data-code='all_caps']")).to_contain_text("Warning")
    expect(preview.locator("li[data-code^='link']")).to_have_count(1)
    screenshot(page, "template-editor-preview")
    assert_accessible(page)

    page.get_by_role("button", name="Save template").click()
    expect(page.get_by_role("status").first).to_contain_text("Saved.")
    expect(page.get_by_role("heading", name="Template: Day-before reminder")).to_be_visible()
    listed = _templates(staff.clinic)
    [saved] = listed
    expect(page).to_have_url(re.compile(rf"/templates/{saved['id']}$"))
    assert saved["name"] == "Day-before reminder" and saved["purpose"] == "reminder"
    assert saved["body"].startswith("Hi [FName], this is [OfficeName]. PLEASE ARRIVE EARLY")
    assert saved["segments_max"] == 2

    # The list shows it with its worst case.
    page.get_by_role("link", name="All templates").click()
    row = page.get_by_role("region", name="Message templates").get_by_role("listitem")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Day-before reminder")
    expect(row).to_contain_text("Reminder")
    expect(row).to_contain_text("English · GSM-7 · Up to 2 segments once fields are filled")
    screenshot(page, "templates-list")
    assert_accessible(page)
