"""The templates page in a real browser: a template written with its live preview (a
misspelled field found as it is typed, with its position and the field it meant, the
segments once filled, the lint), refusals next to their field keeping what was typed, a
version in another language, deleting a template a rule still sends, and the reminder and
confirmation rules added, refused and switched off."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from playwright.sync_api import Browser, Dialog, Locator, Page, expect

from tests.e2e.harness import Clinic, Server
from tests.web.browser import (
    WIDE,
    Staff,
    assert_accessible,
    screenshot,
    sign_in,
    signed_in_http,
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

    # Saved as it is, it is refused next to the message, with what was typed kept.
    page.get_by_role("button", name="Save template").click()
    expect(page.locator("#text-body-error")).to_contain_text("[Fname]")
    expect(box).to_have_value("Hi [Fname], see you [ApptDate] at [ApptTime].")
    expect(page.get_by_label("Name", exact=True)).to_have_value("Day-before reminder")
    assert _templates(staff.clinic) == []
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
    expect(row).to_contain_text(re.compile(r"Changed \w{3} \d{1,2}, \d{1,2}:\d{2} [AP]M"))
    screenshot(page, "templates-list")
    assert_accessible(page)


def test_a_confirmation_without_confirm_code_is_refused_next_to_the_message_keeping_the_text(
    server: Server, page: Page, staff: Staff
) -> None:
    _open_templates(page, server, staff)
    _new_template(page)
    page.get_by_label("Name", exact=True).fill("Confirm the visit")
    page.get_by_label("Purpose").select_option(label="Confirmation")
    expect(page.get_by_text("It must contain [ConfirmCode]")).to_be_visible()
    box = page.get_by_label("Message", exact=True)
    typed = "Please confirm your visit on [ApptDate] at [ApptTime]."
    box.fill(typed)
    expect(_preview(page).get_by_role("status")).to_contain_text("must contain [ConfirmCode]")

    page.get_by_role("button", name="Save template").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Nothing was saved. Correct what is marked below and save again."
    )
    error = page.locator("#text-body-error")
    expect(error).to_contain_text("A confirmation template must contain [ConfirmCode]")
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(box).to_have_attribute("aria-describedby", re.compile(r"\btext-body-error\b"))
    expect(box).to_have_value(typed)
    expect(page.get_by_label("Name", exact=True)).to_have_value("Confirm the visit")
    expect(page.get_by_label("Purpose")).to_have_value("confirmation")
    assert _templates(staff.clinic) == []
    screenshot(page, "template-editor-refused")
    assert_accessible(page)

    # The preview offers the missing field; with it the template saves.
    _preview(page).get_by_role("button", name="Add [ConfirmCode] at the end").click()
    expect(box).to_have_value(typed + " [ConfirmCode]")
    page.get_by_role("button", name="Save template").click()
    expect(page.get_by_role("heading", name="Template: Confirm the visit")).to_be_visible()
    [saved] = _templates(staff.clinic)
    assert saved["purpose"] == "confirmation" and saved["fields"][-1] == "ConfirmCode"

    # A second template of the same name is refused next to the name.
    page.get_by_role("link", name="All templates").click()
    _new_template(page)
    page.get_by_label("Name", exact=True).fill("Confirm the visit")
    page.get_by_label("Message", exact=True).fill("See you soon, [FName].")
    page.get_by_label("Name", exact=True).press("Enter")  # Enter in a text box saves
    expect(page.locator("#template-name-error")).to_contain_text("already named")
    expect(page.get_by_label("Message", exact=True)).to_have_value("See you soon, [FName].")
    assert len(_templates(staff.clinic)) == 1


def test_a_spanish_version_gets_its_own_preview_and_is_saved_with_the_template(
    server: Server, page: Page, staff: Staff
) -> None:
    made = _template(staff.clinic, "Reminder", "reminder", "Hi [FName], see you [ApptDate].")
    _open_templates(page, server, staff)
    page.get_by_role("link", name="Reminder", exact=True).click()
    expect(page.get_by_role("heading", name="Template: Reminder")).to_be_visible()
    expect(page.get_by_label("Message", exact=True)).to_have_value(made["body"])

    page.get_by_label("Add a version in another language").select_option(label="Spanish")
    spanish = page.get_by_role("textbox", name="Message (es)")
    expect(spanish).to_be_visible()
    spanish.fill("Hola [Fname], le esperamos el [ApptDate].")
    preview = _preview(page, "Message (es)")
    expect(preview).to_contain_text("Did you mean [FName]?")
    preview.get_by_role("button", name="Change [Fname] to [FName]").click()
    expect(page.get_by_role("textbox", name="Message (es)")).to_have_value(
        "Hola [FName], le esperamos el [ApptDate]."
    )
    expect(_preview(page, "Message (es)").get_by_role("status")).to_contain_text(
        "Up to 1 segment once fields are filled"
    )
    expect(_preview(page, "Message (es)")).to_contain_text("Hola Maria")
    page.get_by_role("button", name="Save template").click()
    expect(page.get_by_role("status").first).to_contain_text("Saved.")
    shown = staff.clinic.get(f"/templates/{made['id']}")
    assert shown["variants"] == {"es": "Hola [FName], le esperamos el [ApptDate]."}
    screenshot(page, "template-editor-spanish")
    assert_accessible(page)

    # A template whose worst case is three segments is flagged in the list.
    long = "Hi [FName] [LName], " + "your visit with us is coming up soon, " * 7 + "[ApptDate]."
    _template(staff.clinic, "Long reminder", "reminder", long)
    page.get_by_role("link", name="All templates").click()
    rows = page.get_by_role("region", name="Message templates").get_by_role("listitem")
    row = rows.filter(has_text="Spanish")
    expect(row).to_contain_text("English, Spanish")
    flagged = rows.filter(has_text="Long reminder")
    expect(flagged).to_contain_text("Up to 3 segments once fields are filled")
    expect(flagged).to_contain_text("can cost 3 segments: shorten it")
    expect(row).not_to_contain_text("shorten it")

    # Emptying a version removes it.
    row.get_by_role("link", name="Reminder").click()
    page.get_by_role("textbox", name="Message (es)").fill("")
    page.get_by_role("button", name="Save template").click()
    expect(page.get_by_role("status").first).to_contain_text("Saved.")
    expect(page.get_by_role("textbox", name="Message (es)")).to_have_count(0)
    assert staff.clinic.get(f"/templates/{made['id']}")["variants"] == {}


def _accept(dialog: Dialog) -> None:
    dialog.accept()


def _rules(page: Page) -> Locator:
    return page.get_by_role("region", name="Reminders and confirmations")


def _rule_form(page: Page) -> Locator:
    return _rules(page).get_by_role("form", name="Add a rule")


def test_a_rule_is_refused_next_to_its_field_then_added_and_switched_off(
    server: Server, page: Page, staff: Staff
) -> None:
    _template(staff.clinic, "Day before", "reminder", "Hi [FName], see you [ApptDate].")
    _template(staff.clinic, "Confirm", "confirmation", "Reply [ConfirmCode] to confirm.")
    patient = staff.clinic.patient()
    starts = (datetime.now(UTC) + timedelta(days=5)).replace(microsecond=0)
    staff.clinic.post(
        "/appointments",
        {"patient_id": patient.id, "starts_at": starts.isoformat()},
        expect=201,
    )
    _open_templates(page, server, staff)
    form = _rule_form(page)
    expect(_rules(page)).to_contain_text("No rules yet")
    form.get_by_label("Name").fill("Day-before reminder")
    expect(form.get_by_label("Template")).to_have_value(re.compile(r"\d+"))
    expect(form.get_by_label("Template").locator("option")).to_have_text(["Day before"])
    form.get_by_label("Hours").fill("24")
    form.get_by_label("Minutes", exact=True).fill("0")

    # A margin as long as the offset could never send: refused next to it, nothing saved.
    form.get_by_label("Do not send within (minutes)").fill("1440")
    form.get_by_role("button", name="Add rule").click()
    form = _rule_form(page)
    margin = form.get_by_label("Do not send within (minutes)")
    expect(page.locator("#rule-margin-error")).to_contain_text("must be shorter than")
    expect(margin).to_have_attribute("aria-invalid", "true")
    expect(margin).to_have_value("1440")
    expect(form.get_by_label("Name")).to_have_value("Day-before reminder")
    assert staff.clinic.get("/rules") == []

    # Hours that are not a number are refused by the form itself.
    form.get_by_label("Hours").fill("a day")
    form.get_by_role("button", name="Add rule").click()
    expect(page.locator("#rule-before-error")).to_contain_text("Enter whole hours and minutes")

    form = _rule_form(page)
    form.get_by_label("Hours").fill("24")
    form.get_by_label("Do not send within (minutes)").fill("60")
    form.get_by_role("button", name="Add rule").click()
    expect(_rules(page).get_by_role("status")).to_contain_text(
        "Added the rule 'Day-before reminder'. On"
    )
    item = _rules(page).get_by_role("listitem").filter(has_text="Day-before reminder")
    expect(item).to_contain_text("On")
    expect(item).to_contain_text(
        "Reminder · 1 day before · not within 1 hour of the start · Template: Day before"
    )
    expect(item).to_contain_text("1 planned · 0 queued to send")  # the upcoming appointment

    # A confirmation rule offers only confirmation templates.
    form = _rule_form(page)
    form.get_by_label("Purpose").select_option(label="Confirmation")
    expect(form.get_by_label("Template").locator("option")).to_have_text(["Confirm"])
    form.get_by_label("Name").fill("Confirm two days ahead")
    form.get_by_label("Hours").fill("48")
    form.get_by_label("Do not send within (minutes)").fill("120")
    form.get_by_role("button", name="Add rule").click()
    confirm = _rules(page).get_by_role("listitem").filter(has_text="Confirm two days ahead")
    expect(confirm).to_contain_text("Confirmation · 2 days before · not within 2 hours")
    screenshot(page, "templates-rules")
    assert_accessible(page)

    # Switched off: the page says so, and so does the API.
    item.get_by_role("button", name="Turn off Day-before reminder").click()
    expect(_rules(page).get_by_role("status")).to_contain_text(
        "The rule 'Day-before reminder' is off"
    )
    item = _rules(page).get_by_role("listitem").filter(has_text="Day-before reminder")
    expect(item).to_contain_text("Off")
    expect(item).to_contain_text("0 planned · 0 queued to send · 0 skipped · 1 canceled")
    expect(item.get_by_role("button", name="Turn on Day-before reminder")).to_be_visible()
    saved = {r["name"]: r for r in staff.clinic.get("/rules")}
    assert saved["Day-before reminder"]["enabled"] is False
    assert saved["Day-before reminder"]["minutes_before"] == 1440
    assert saved["Day-before reminder"]["do_not_send_within_minutes"] == 60
    assert saved["Confirm two days ahead"]["enabled"] is True
    assert saved["Confirm two days ahead"]["minutes_before"] == 2880

    # Deleted (after the browser's confirmation): gone from the page and the API.
    page.on("dialog", _accept)
    confirm.get_by_role("button", name="Delete Confirm two days ahead").click()
    expect(_rules(page).get_by_role("status")).to_contain_text(
        "Deleted the rule 'Confirm two days ahead'"
    )
    expect(_rules(page).get_by_role("listitem")).to_have_count(1)
    assert [r["name"] for r in staff.clinic.get("/rules")] == ["Day-before reminder"]


def test_a_template_a_rule_sends_cannot_be_deleted_until_the_rule_is_off(
    server: Server, page: Page, staff: Staff
) -> None:
    made = _template(staff.clinic, "Day before", "reminder", "Hi [FName], see you [ApptDate].")
    staff.clinic.post(
        "/rules",
        {
            "name": "Reminder rule",
            "purpose": "reminder",
            "minutes_before": 1440,
            "do_not_send_within_minutes": 60,
            "template_id": made["id"],
            "enabled": True,
        },
        expect=201,
    )
    page.on("dialog", _accept)
    sign_in(page, server.base, staff.email, staff.password)
    page.goto(f"{server.base}/templates/{made['id']}")
    page.get_by_role("button", name="Delete template").click()
    refusal = page.get_by_role("region", name="Delete this template").get_by_role("alert")
    expect(refusal).to_contain_text("rule 'Reminder rule'")
    assert staff.clinic.get(f"/templates/{made['id']}")["name"] == "Day before"

    page.get_by_role("link", name="All templates").click()
    _rules(page).get_by_role("button", name="Turn off Reminder rule").click()
    expect(_rules(page).get_by_role("status")).to_contain_text("is off")
    page.get_by_role("link", name="Day before").first.click()
    page.get_by_role("button", name="Delete template").click()
    expect(page).to_have_url(re.compile(r"/templates\?deleted=1$"))
    expect(page.get_by_role("status")).to_contain_text("The template was deleted.")
    expect(page.get_by_role("region", name="Message templates")).to_contain_text("No templates yet")
    staff.clinic.call("GET", f"/templates/{made['id']}", expect=404)


def test_without_javascript_fields_are_inserted_a_suggestion_taken_and_the_template_saved(
    server: Server, browser: Browser, staff: Staff
) -> None:
    context = browser.new_context(viewport=WIDE, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, server.base, staff.email, staff.password)
        page.goto(server.base + "/templates/new")
        page.get_by_label("Name", exact=True).fill("Plain reminder")
        page.get_by_label("Message", exact=True).fill("Hi [fname], see you")
        page.get_by_role("group", name="Insert a field into Message").get_by_role(
            "button", name="Insert [ApptDate]"
        ).click()
        box = page.get_by_label("Message", exact=True)
        expect(box).to_have_value("Hi [fname], see you [ApptDate]")
        expect(page.get_by_label("Name", exact=True)).to_have_value("Plain reminder")
        _preview(page).get_by_role("button", name="Change [fname] to [FName]").click()
        expect(box).to_have_value("Hi [FName], see you [ApptDate]")
        page.get_by_role("button", name="Save template").last.click()
        expect(page).to_have_url(re.compile(r"/templates/\d+\?saved=1$"))
        expect(page.get_by_role("status").first).to_contain_text("Saved.")
        [saved] = _templates(staff.clinic)
        assert saved["body"] == "Hi [FName], see you [ApptDate]"

        # A rule whose template is of another purpose is refused next to the template.
        page.goto(server.base + "/templates")
        form = _rule_form(page)
        form.get_by_label("Name").fill("Confirm")
        form.get_by_label("Purpose").select_option(label="Confirmation")
        form.get_by_role("button", name="Add rule").click()
        expect(page.locator("#rule-template-error")).to_contain_text(
            "choose a confirmation template"
        )
        # The form again, offering the templates of the purpose chosen: none yet.
        expect(_rule_form(page).get_by_label("Template")).to_have_value("")
        expect(page.get_by_text("Write a confirmation template first")).to_be_visible()
        expect(_rule_form(page).get_by_label("Name")).to_have_value("Confirm")
        assert staff.clinic.get("/rules") == []
    finally:
        context.close()


def test_another_clinics_template_is_not_found_and_a_form_without_its_token_changes_nothing(
    server: Server, staff: Staff
) -> None:
    other = server.new_clinic("Other Clinic")
    theirs = _template(other, "Theirs", "reminder", "Hi [FName].")
    mine = _template(staff.clinic, "Mine", "reminder", "Hi [FName].")
    http = signed_in_http(server.base, staff.email, staff.password)
    try:
        assert http.get(f"/templates/{theirs['id']}").status_code == 404
        page = http.get(f"/templates/{mine['id']}")
        assert page.status_code == 200 and "Template: Mine" in page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        form = {"name": "Renamed", "purpose": "reminder", "language": "en", "body": "Hi."}
        assert http.post(f"/templates/{mine['id']}", data=form).status_code == 403
        stolen = {**form, "csrf_token": token.group(1)}
        assert http.post(f"/templates/{theirs['id']}", data=stolen).status_code == 404
        assert other.get(f"/templates/{theirs['id']}")["name"] == "Theirs"
        assert http.post(f"/templates/{mine['id']}", data=stolen).status_code == 200
        assert staff.clinic.get(f"/templates/{mine['id']}")["name"] == "Renamed"
    finally:
        http.close()
