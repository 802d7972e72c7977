"""The settings page in a real browser: administrators only, one form a section with the
error next to its field and nothing half-saved, sender numbers, users, API keys shown
once, the setup checklist, and CSRF."""

from __future__ import annotations

import re
from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.e2e.harness import Clinic, Server, fresh_sender
from tests.web.browser import (
    UI_TIMEOUT_MS,
    WIDE,
    Staff,
    add_user,
    assert_accessible,
    screenshot,
    sign_in,
)


def _open_settings(page: Page, server: Server, admin: Staff) -> None:
    sign_in(page, server.base, admin.email, admin.password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    expect(page).to_have_url(re.compile(r"/settings$"))
    expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()


def _org(clinic: Clinic) -> dict[str, Any]:
    data: dict[str, Any] = clinic.get("/org")
    return data


def _new_clinic_without_setup(server: Server, name: str) -> Clinic:
    """An organization just created: texting off, nothing registered, no numbers."""
    org = server.cli_json("org", "create", "--name", name)
    key = server.cli_json("apikey", "create", "--org", str(org["id"]))
    return Clinic(server, int(org["id"]), key["key"])


def test_a_staff_user_cannot_open_the_settings_and_sees_no_link(
    server: Server, page: Page, staff: Staff
) -> None:
    sign_in(page, server.base, staff.email, staff.password)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Connector")).to_be_visible()
    expect(nav.get_by_role("link", name="Settings")).to_have_count(0)

    answer = page.goto(server.base + "/settings")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("alert")).to_have_text(
        "Only an administrator can open the settings. Ask your clinic's administrator."
    )
    expect(page.get_by_role("heading", name="Setup checklist")).to_have_count(0)

    # Nor can a staff user save a setting by posting the form.
    token = page.locator("form.signout input[name=csrf_token]").get_attribute("value") or ""
    before = _org(staff.clinic)
    refused = page.request.post(
        server.base + "/settings/send-window",
        form={"start": "10:00", "end": "11:00", "csrf_token": token},
    )
    assert refused.status == 403
    assert _org(staff.clinic)["send_window"] == before["send_window"]


def test_the_setup_checklist_lists_what_a_new_clinic_misses_and_clears_as_it_is_fixed(
    server: Server, page: Page
) -> None:
    clinic = _new_clinic_without_setup(server, "Brand New Clinic")
    admin = add_user(server, clinic, "admin")
    _open_settings(page, server, admin)

    checklist = page.get_by_role("region", name="Setup checklist")
    expect(checklist).to_contain_text("4 things stop Brand New Clinic from texting.")
    items = checklist.get_by_role("listitem")
    expect(items).to_have_count(6)
    expect(items.nth(0)).to_contain_text("Texting is not enabled for this organization.")
    expect(items.nth(0)).to_contain_text("Stops texting")
    expect(items.nth(1)).to_contain_text("carrier registration has not been started")
    expect(items.nth(2)).to_contain_text("The organization has no clinic number to text from.")
    expect(items.nth(2)).to_contain_text("Add a clinic number under Numbers.")
    expect(items.nth(3)).to_contain_text("no lead (digital front door) number")
    expect(items.nth(4)).to_contain_text("no clinic phone")
    expect(items.nth(4)).to_contain_text("To do")
    expect(items.nth(5)).to_contain_text("No front-desk staff can sign in")
    screenshot(page, "settings-new-clinic")
    assert_accessible(page)

    # A fix links to its section; saving it there updates the checklist at once.
    items.nth(0).get_by_role("link", name="Go to Texting").click()
    expect(page).to_have_url(re.compile(r"#settings-texting$"))
    texting = page.get_by_role("region", name="Texting", exact=True)
    texting.get_by_label("Texting enabled").check()
    texting.get_by_label("Carrier registration").select_option(label="Approved")
    texting.get_by_role("button", name="Save texting").click()
    expect(texting.get_by_role("status")).to_contain_text(
        "Saved. Texting is enabled; carrier registration: approved."
    )
    expect(checklist).to_contain_text("2 things stop Brand New Clinic from texting.")
    expect(checklist).not_to_contain_text("Texting is not enabled")
    org = _org(clinic)
    assert org["sms_enabled"] is True and org["messaging_registration"] == "approved"


def test_a_clinic_that_is_set_up_is_ready_to_text(server: Server, page: Page, admin: Staff) -> None:
    admin.clinic.call("PATCH", "/org", {"clinic_phone": "+14155550100"}, expect=200)
    _open_settings(page, server, admin)
    checklist = page.get_by_role("region", name="Setup checklist")
    expect(checklist).to_contain_text("Ready to text. Nothing is left to set up.")
    expect(checklist.get_by_role("listitem")).to_have_count(0)
    screenshot(page, "settings-ready")
    assert_accessible(page)


def test_a_bad_send_window_is_refused_next_to_its_field_and_nothing_is_saved(
    server: Server, page: Page, admin: Staff
) -> None:
    _open_settings(page, server, admin)
    before = _org(admin.clinic)
    window = page.get_by_role("region", name="Send window")
    start, end = window.get_by_label("Start", exact=True), window.get_by_label("End", exact=True)
    start.fill("21:00")
    end.fill("08:00")
    window.get_by_role("button", name="Save send window").click()

    expect(end).to_have_accessible_description(
        re.compile(r"The window must end after it starts, on the same day: 21:00 to 08:00")
    )
    expect(end).to_have_attribute("aria-invalid", "true")
    expect(window.get_by_role("alert")).to_contain_text("Nothing was saved.")
    expect(start).to_have_value("21:00")
    expect(end).to_have_value("08:00")
    assert (
        _org(admin.clinic)["send_window"]
        == before["send_window"]
        == {
            "start": "08:00",
            "end": "21:00",
        }
    )
    assert_accessible(page)
    screenshot(page, "settings-refused")

    start.fill("09:00")
    end.fill("18:30")
    window.get_by_role("button", name="Save send window").click()
    expect(window.get_by_role("status")).to_contain_text(
        "Saved. Automated texts go out between 09:00 and 18:30"
    )
    expect(end).not_to_have_attribute("aria-invalid", "true")
    assert _org(admin.clinic)["send_window"] == {"start": "09:00", "end": "18:30"}

    # Reloaded, the page shows what is saved.
    page.reload()
    expect(
        page.get_by_role("region", name="Send window").get_by_label("End", exact=True)
    ).to_have_value("18:30")


def test_the_link_policy_and_the_spend_limit_save_on_their_own(
    server: Server, page: Page, admin: Staff
) -> None:
    _open_settings(page, server, admin)
    links = page.get_by_role("region", name="Links")
    expect(links.get_by_label("Warn", exact=False)).to_be_checked()
    links.get_by_label("Block", exact=False).check()
    links.get_by_role("button", name="Save link policy").click()
    expect(links.get_by_role("status")).to_contain_text(
        "Texts typed by staff cannot contain links."
    )
    assert _org(admin.clinic)["url_policy"] == "block"

    spend = page.get_by_role("region", name="Spend limit")
    expect(spend).to_contain_text("Manual texts this month: $0.00 (no limit).")
    field = spend.get_by_label("Monthly limit for manual texts (US dollars)")
    field.fill("twelve")
    spend.get_by_role("button", name="Save spend limit").click()
    expect(field).to_have_accessible_description(re.compile(r"Enter an amount in dollars"))
    expect(field).to_have_value("twelve")
    assert _org(admin.clinic)["manual_spend_limit_usd"] is None

    field.fill("$0")
    spend.get_by_role("button", name="Save spend limit").click()
    expect(spend.get_by_role("status")).to_contain_text("Manual texts stop once they cost $0.00")
    assert float(_org(admin.clinic)["manual_spend_limit_usd"]) == 0
    checklist = page.get_by_role("region", name="Setup checklist")
    expect(checklist).to_contain_text("The monthly limit for manual texts is $0.00")

    field.fill("")
    spend.get_by_role("button", name="Save spend limit").click()
    expect(spend.get_by_role("status")).to_contain_text("Manual texts have no monthly limit.")
    assert _org(admin.clinic)["manual_spend_limit_usd"] is None
    expect(checklist).not_to_contain_text("The monthly limit for manual texts")
    # The other forms kept their own state: the link policy is still the saved one.
    expect(links.get_by_label("Block", exact=False)).to_be_checked()


def test_a_reply_text_without_its_required_part_is_refused_with_the_reason(
    server: Server, page: Page, admin: Staff
) -> None:
    _open_settings(page, server, admin)
    before = _org(admin.clinic)["replies"]
    replies = page.get_by_role("region", name="Reply texts")
    opt_out = replies.get_by_label("Opt-out reply")
    help_reply = replies.get_by_label("Help reply")
    expect(opt_out).to_have_value(before["opt_out"])
    opt_out.fill("{org}: you will get no more texts from us.")
    help_reply.fill(
        "{org} help desk: call {phone}. Msg & data rates may apply. Reply STOP to opt out."
    )
    replies.get_by_role("button", name="Save replies").click()

    expect(opt_out).to_have_accessible_description(
        re.compile(r"The opt-out reply must contain START\.")
    )
    expect(opt_out).to_have_attribute("aria-invalid", "true")
    expect(opt_out).to_have_value("{org}: you will get no more texts from us.")
    expect(help_reply).to_have_value(
        "{org} help desk: call {phone}. Msg & data rates may apply. Reply STOP to opt out."
    )
    # Nothing half-saved: the valid help text waits for the opt-out text to be fixed.
    assert _org(admin.clinic)["replies"] == before

    opt_out.fill("{org}: you will get no more texts from us. Reply START to resubscribe.")
    replies.get_by_role("button", name="Save replies").click()
    expect(replies.get_by_role("status")).to_contain_text("Saved.")
    saved = _org(admin.clinic)["replies"]
    assert saved["opt_out"] == (
        "{org}: you will get no more texts from us. Reply START to resubscribe."
    )
    assert saved["help"].startswith("{org} help desk")
    expect(replies).to_contain_text("Web Clinic help desk: call the clinic.")


def test_clinic_details_are_refused_next_to_the_field_the_service_names(
    server: Server, page: Page, admin: Staff
) -> None:
    _open_settings(page, server, admin)
    before = _org(admin.clinic)
    clinic = page.get_by_role("region", name="Clinic", exact=True)
    phone, zone = clinic.get_by_label("Clinic phone"), clinic.get_by_label("Time zone")
    save = clinic.get_by_role("button", name="Save clinic details")

    phone.fill("12")
    zone.fill("America/Chicago")
    save.click()
    expect(phone).to_have_accessible_description(re.compile(r"'12' has too few digits"))
    expect(phone).to_have_attribute("aria-invalid", "true")
    expect(zone).not_to_have_attribute("aria-invalid", "true")
    expect(zone).to_have_value("America/Chicago")
    expect(clinic.get_by_role("alert")).to_contain_text("Nothing was saved.")

    phone.fill("(415) 555-0100")
    zone.fill("Mars/Base")
    save.click()
    expect(zone).to_have_accessible_description(re.compile(r"'Mars/Base' is not a time zone"))
    expect(zone).to_have_attribute("aria-invalid", "true")
    expect(phone).not_to_have_attribute("aria-invalid", "true")
    expect(phone).to_have_value("(415) 555-0100")
    after = _org(admin.clinic)
    assert (after["clinic_phone"], after["timezone"]) == (
        before["clinic_phone"],
        before["timezone"],
    )

    zone.fill("")
    save.click()
    expect(zone).to_have_accessible_description(re.compile(r"Choose a time zone"))

    zone.fill("America/Chicago")
    save.click()
    expect(clinic.get_by_role("status")).to_contain_text("Clinic phone and time zone saved.")
    after = _org(admin.clinic)
    assert (after["clinic_phone"], after["timezone"]) == ("+14155550100", "America/Chicago")

    # A time the browser's time field would not send is refused next to it all the same.
    token = page.locator("form.signout input[name=csrf_token]").get_attribute("value") or ""
    refused = page.request.post(
        server.base + "/settings/send-window",
        form={"start": "8am", "end": "21:00", "csrf_token": token},
        headers={"HX-Request": "true"},
    )
    assert refused.status == 422
    assert 'id="window-start-error"' in refused.text()
    assert "The send window&#39;s start must be a 24-hour time as HH:MM" in refused.text()
    assert _org(admin.clinic)["send_window"] == before["send_window"]


def test_sender_numbers_show_their_verification_and_can_be_checked_again(
    server: Server, page: Page, admin: Staff
) -> None:
    _open_settings(page, server, admin)
    numbers = page.get_by_role("region", name="Numbers")
    expect(numbers.locator("#sender-numbers > li")).to_have_count(2)
    expect(numbers.locator("#sender-numbers")).to_contain_text("Verified")

    numbers.get_by_label("Number", exact=True).fill("not a phone")
    numbers.get_by_role("button", name="Add number").click()
    field = numbers.get_by_label("Number", exact=True)
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_value("not a phone")

    landline = fresh_sender()
    field.fill(landline)
    numbers.get_by_label("Kind").select_option(label="Text-enabled landline")
    numbers.get_by_role("button", name="Add number").click()
    expect(numbers.get_by_role("status")).to_contain_text("waiting for the provider to confirm")
    row = numbers.locator("#sender-numbers > li").nth(2)
    expect(row).to_contain_text("Waiting for confirmation")
    assert {n["number"]: n["verification"] for n in admin.clinic.get("/numbers")}[
        landline
    ] == "pending"

    server.sim("/verify", {"number": landline, "result": "verified", "kind": "landline"})
    row.get_by_role("button", name="Check again").click()
    row = numbers.locator("#sender-numbers > li").nth(2)
    expect(row).to_contain_text("is confirmed: it can send texts now.")
    expect(row.locator(".label")).to_have_text("Verified")
    expect(row.get_by_role("button", name="Check again")).to_have_count(0)
    assert {n["number"]: n["verification"] for n in admin.clinic.get("/numbers")}[
        landline
    ] == "verified"


def test_an_admin_adds_a_user_who_can_then_sign_in(
    server: Server, page: Page, browser: Browser, admin: Staff
) -> None:
    _open_settings(page, server, admin)
    users = page.get_by_role("region", name="Users")
    email = f"new-{admin.clinic.org_id}@clinic.example"
    users.get_by_label("Email", exact=True).fill(email)
    users.get_by_label("Initial password").fill("short")
    users.get_by_role("button", name="Add user").click()
    expect(users.get_by_label("Initial password")).to_have_accessible_description(
        re.compile(r"Use a password of at least 8 characters")
    )
    expect(users.get_by_label("Email", exact=True)).to_have_value(email)
    expect(users.locator("#user-list")).not_to_contain_text(email)

    users.get_by_label("Initial password").fill("front-desk-2024")
    users.get_by_role("button", name="Add user").click()
    expect(users.get_by_role("status")).to_contain_text(f"Added {email} as staff.")
    row = users.locator("#user-list > li").filter(has_text=email)
    expect(row).to_contain_text("Staff")
    expect(row).to_contain_text("Active")

    other: BrowserContext = browser.new_context(viewport=WIDE)
    other.set_default_timeout(UI_TIMEOUT_MS)
    try:
        newcomer = other.new_page()
        sign_in(newcomer, server.base, email, "front-desk-2024")
        expect(newcomer).to_have_url(re.compile(r"/inbox$"))
    finally:
        other.close()

    # An administrator cannot disable (or demote) themself, not even by posting the form.
    me = users.locator("#user-list > li").filter(has_text=admin.email)
    expect(me).to_contain_text("(you)")
    expect(me.get_by_role("button", name="Disable")).to_have_count(0)
    token = page.locator("form.signout input[name=csrf_token]").get_attribute("value") or ""
    refused = page.request.post(
        f"{server.base}/settings/users/{admin.user_id}/disable", form={"csrf_token": token}
    )
    assert refused.status == 409
    assert "You cannot disable your own account" in refused.text()
    page.reload()
    expect(page.get_by_role("heading", name="Settings", exact=True)).to_be_visible()

    # Disabling another user works, after a confirmation.
    row = page.get_by_role("region", name="Users").locator("#user-list > li").filter(has_text=email)
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Disable").click()
    row = page.get_by_role("region", name="Users").locator("#user-list > li").filter(has_text=email)
    expect(row).to_contain_text("Disabled")
    expect(row.get_by_role("button", name="Enable")).to_be_visible()


def test_an_api_key_is_shown_once_works_and_stops_working_when_revoked(
    server: Server, page: Page, admin: Staff
) -> None:
    _open_settings(page, server, admin)
    keys = page.get_by_role("region", name="API keys")
    keys.get_by_label("Key name").fill("")
    keys.get_by_role("button", name="Create API key").click()
    expect(keys.get_by_label("Key name")).to_have_accessible_description(
        re.compile("Name the key after what uses it")
    )

    keys.get_by_label("Key name").fill("Scheduler <sync>")
    keys.get_by_role("button", name="Create API key").click()
    expect(keys.get_by_role("status")).to_contain_text("shown only this once")
    key = keys.get_by_label("New API key").input_value()
    assert key.startswith("ct_")

    api = httpx.Client(base_url=server.base + "/api/v1", timeout=30)
    try:
        answer = api.get("/org", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200 and answer.json()["id"] == admin.clinic.org_id

        page.reload()
        keys = page.get_by_role("region", name="API keys")
        expect(keys.get_by_label("New API key")).to_have_count(0)
        assert key not in page.content()
        row = keys.locator("#api-key-list > li").filter(has_text="Scheduler <sync>")
        expect(row).to_contain_text(key[:10])
        expect(row).to_contain_text("Active")

        page.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Revoke").click()
        expect(keys.get_by_role("status")).to_contain_text("Revoked the key")
        row = keys.locator("#api-key-list > li").filter(has_text="Scheduler <sync>")
        expect(row).to_contain_text("Revoked")
        answer = api.get("/org", headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 401
    finally:
        api.close()
    screenshot(page, "settings-api-keys")
    assert_accessible(page)


def test_a_settings_post_without_its_csrf_token_is_refused_and_changes_nothing(
    server: Server, page: Page, context: BrowserContext, admin: Staff
) -> None:
    _open_settings(page, server, admin)
    before = _org(admin.clinic)
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    with httpx.Client(base_url=server.base, cookies=cookies, timeout=30) as http:
        for token in (None, "not-the-token"):
            form = {"start": "10:00", "end": "11:00"}
            if token:
                form["csrf_token"] = token
            answer = http.post("/settings/send-window", data=form)
            assert answer.status_code == 403, answer.text
            assert "nothing was changed" in answer.text
        answer = http.post("/settings/api-keys", data={"name": "sneaky"})
        assert answer.status_code == 403
    after = _org(admin.clinic)
    assert after["send_window"] == before["send_window"]
    page.reload()
    expect(page.get_by_role("region", name="API keys")).not_to_contain_text("sneaky")


def test_a_settings_page_escapes_names_and_adds_a_number_once(
    server: Server, page: Page, admin: Staff
) -> None:
    admin.clinic.call("PATCH", "/org", {"name": "<i>Clinic</i>"}, expect=200)
    _open_settings(page, server, admin)
    expect(page.locator("main i")).to_have_count(0)
    expect(page.get_by_role("region", name="Setup checklist")).to_contain_text("<i>Clinic</i>")

    numbers = page.get_by_role("region", name="Numbers")
    taken = admin.clinic.get("/numbers")[0]["number"]
    numbers.get_by_label("Number", exact=True).fill(taken)
    numbers.get_by_role("button", name="Add number").click()
    expect(numbers.get_by_label("Number", exact=True)).to_have_accessible_description(
        re.compile("already registered")
    )
    assert len(admin.clinic.get("/numbers")) == 2


def test_lead_automation_is_saved_and_a_bad_number_of_days_is_refused_next_to_it(
    server: Server, page: Page, admin: Staff
) -> None:
    _open_settings(page, server, admin)
    section = page.get_by_role("region", name="Lead automation")
    on_booking = section.get_by_label("Close a lead as won", exact=False)
    expect(on_booking).to_be_checked()
    days = section.get_by_label("Close a lead as lost after this many days without a reply")
    days.fill("thirty")
    section.get_by_role("button", name="Save lead automation").click()
    expect(days).to_have_accessible_description(re.compile(r"Enter a whole number of days"))
    expect(days).to_have_value("thirty")
    assert _org(admin.clinic)["lead_inactivity_days"] is None

    days.fill("400")
    section.get_by_role("button", name="Save lead automation").click()
    expect(days).to_have_accessible_description(re.compile(r"1 to 365 days"))
    assert _org(admin.clinic)["lead_inactivity_days"] is None

    on_booking.uncheck()
    days.fill("45")
    section.get_by_role("button", name="Save lead automation").click()
    expect(section.get_by_role("status")).to_contain_text(
        "Booking an appointment leaves the lead as it is. Leads with no reply for 45 days"
    )
    saved = _org(admin.clinic)
    assert saved["lead_close_on_booking"] is False
    assert saved["lead_inactivity_days"] == 45
