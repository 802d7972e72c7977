"""The Lead Dashboard in a real browser: columns with counts, a card per lead, moving a
lead (closed lost needs a reason, closed won can be scheduled), search and the unread
filter, live refresh, escaping, screenshots and the accessibility check."""

from __future__ import annotations

import json
import re
from contextlib import closing
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.e2e.harness import Clinic, Server, fresh_phone
from tests.web.browser import Staff, assert_accessible, screenshot, sign_in, signed_in_http


def add_lead(
    clinic: Clinic, first: str, last: str = "Lead", stage: str = "open", **extra: Any
) -> dict[str, Any]:
    """A patient with a lead in ``stage``; its patient record."""
    patient: dict[str, Any] = clinic.post(
        "/patients", {"first_name": first, "last_name": last, "phone": fresh_phone()}, expect=201
    ).json()
    clinic.call("PUT", f"/patients/{patient['id']}/lead", {"stage": stage, **extra}, expect=200)
    return patient


def lead_of(clinic: Clinic, patient_id: int) -> dict[str, Any]:
    data: dict[str, Any] = clinic.get(f"/patients/{patient_id}/lead")
    return data


def column(page: Page, name: str) -> Locator:
    """A stage's column, found by its heading (the stage's name, then its count)."""
    return page.get_by_role("region", name=re.compile(rf"^{re.escape(name)} \d+ leads?$"))


def expect_count(page: Page, name: str, count: int) -> None:
    noun = "lead" if count == 1 else "leads"
    expect(page.get_by_role("region", name=f"{name} {count} {noun}")).to_be_visible()


def card(page: Page, patient_id: int) -> Locator:
    return page.locator(f"#lead-{patient_id}")


def open_stage_form(page: Page, patient_id: int) -> Locator:
    card(page, patient_id).get_by_role("link", name="Change stage").click()
    panel = page.get_by_role("region", name=re.compile(r"^Change the stage of "))
    expect(panel).to_be_visible()
    return panel


def test_the_dashboard_shows_each_stage_with_its_count_and_a_card_per_lead(
    server: Server, page: Page, staff: Staff
) -> None:
    clinic = staff.clinic
    ana = add_lead(clinic, "Ana", "Open")
    add_lead(clinic, "Ben", "Open")
    add_lead(clinic, "Cleo", "Busy", "in_progress", substatus="1st contact")
    add_lead(clinic, "Dan", "Won", "closed_won", substatus="scheduled")
    lead_number = next(n["number"] for n in clinic.get("/numbers") if n["purpose"] == "lead")
    server.sim(
        "/inbound", {"from": ana["phone"], "to": lead_number, "body": "Do you take new patients?"}
    )

    sign_in(page, server.base, staff.email, staff.password)
    page.goto(server.base + "/leads")
    expect(page.get_by_role("heading", name="Lead Dashboard", level=1)).to_be_visible()
    expect_count(page, "Open", 2)
    expect_count(page, "In progress", 1)
    expect_count(page, "Closed won", 1)
    expect_count(page, "Closed lost", 0)
    expect(column(page, "Closed lost")).to_contain_text("No leads in this stage")

    ana_card = card(page, ana["id"])
    expect(column(page, "Open").locator(f"#lead-{ana['id']}")).to_be_visible()
    link = ana_card.get_by_role("link", name="Ana Open", exact=True)
    expect(link).to_have_attribute("href", f"/patients/{ana['id']}")
    expect(ana_card).to_contain_text("Do you take new patients?")
    expect(ana_card).to_contain_text("1 unread")
    expect(ana_card).to_contain_text(re.compile(r"Last activity (just now|\d+ min ago)"))
    expect(column(page, "In progress")).to_contain_text("1st contact")
    expect(column(page, "Closed won")).to_contain_text("Scheduled")

    assert_accessible(page)
    screenshot(page, "leads")
    open_stage_form(page, ana["id"])
    assert_accessible(page)
    screenshot(page, "leads-change-stage")


def test_closing_a_lead_as_lost_asks_for_a_reason_and_changes_nothing_without_one(
    server: Server, page: Page, staff: Staff
) -> None:
    clinic = staff.clinic
    lead = add_lead(clinic, "Lucy", "Lost")
    add_lead(clinic, "Other", "Open")
    before = lead_of(clinic, lead["id"])

    sign_in(page, server.base, staff.email, staff.password)
    page.goto(server.base + "/leads")
    expect_count(page, "Open", 2)
    panel = open_stage_form(page, lead["id"])
    expect(panel).to_contain_text("Now: open")
    panel.get_by_label("Stage").select_option(label="Closed lost")
    panel.get_by_role("button", name="Save stage").click()

    reason = panel.get_by_label("Reason")
    error = page.locator("#move-reason-error")
    expect(error).to_contain_text("needs a reason")
    # The error sits next to its field and is tied to it for screen readers.
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(reason).to_have_attribute("aria-describedby", "move-reason-error")
    expect(reason).to_be_focused()
    expect(panel.get_by_label("Stage")).to_have_value("closed_lost")  # what was chosen stays
    assert lead_of(clinic, lead["id"]) == before  # nothing was recorded
    expect_count(page, "Open", 2)
    expect_count(page, "Closed lost", 0)
    screenshot(page, "leads-reason-needed")

    reason.fill("Chose another clinic")
    panel.get_by_role("button", name="Save stage").click()
    expect(page.get_by_role("status")).to_contain_text("Lucy Lost is now closed lost")
    expect_count(page, "Open", 1)
    expect_count(page, "Closed lost", 1)
    lost = column(page, "Closed lost").locator(f"#lead-{lead['id']}")
    expect(lost).to_contain_text("Reason: Chose another clinic")
    expect(page.get_by_role("region", name=re.compile("^Change the stage"))).to_have_count(0)

    after = lead_of(clinic, lead["id"])
    assert (after["stage"], after["reason"], after["active"]) == (
        "closed_lost",
        "Chose another clinic",
        False,
    )
    assert len(after["history"]) == len(before["history"]) + 1


def test_closing_a_lead_as_won_can_record_the_appointment_as_scheduled(
    server: Server, page: Page, staff: Staff
) -> None:
    clinic = staff.clinic
    lead = add_lead(clinic, "Wendy", "Won", "in_progress", substatus="1st contact")

    sign_in(page, server.base, staff.email, staff.password)
    page.goto(server.base + "/leads")
    panel = open_stage_form(page, lead["id"])
    expect(panel).to_contain_text("Now: in progress (1st contact)")

    # Scheduled goes with closed won only: said next to the box, nothing recorded.
    panel.get_by_label("Appointment scheduled").check()
    panel.get_by_role("button", name="Save stage").click()
    expect(page.locator("#move-scheduled-error")).to_contain_text("goes with Closed won")
    assert lead_of(clinic, lead["id"])["stage"] == "in_progress"

    panel.get_by_label("Stage").select_option(label="Closed won")
    expect(panel.get_by_label("Appointment scheduled")).to_be_checked()
    panel.get_by_role("button", name="Save stage").click()
    won = column(page, "Closed won").locator(f"#lead-{lead['id']}")
    expect(won).to_contain_text("Scheduled")
    expect_count(page, "In progress", 0)
    expect_count(page, "Closed won", 1)
    after = lead_of(clinic, lead["id"])
    assert (after["stage"], after["substatus"]) == ("closed_won", "scheduled")
    assert after["history"][-1]["actor"] == f"user:{staff.user_id}"


def test_search_finds_a_lead_by_name_or_phone_and_the_filter_keeps_unread_ones(
    server: Server, page: Page, staff: Staff
) -> None:
    clinic = staff.clinic
    maria = add_lead(clinic, "Maria", "Search")
    other = add_lead(clinic, "Tom", "Else")
    lead_number = next(n["number"] for n in clinic.get("/numbers") if n["purpose"] == "lead")
    server.sim("/inbound", {"from": other["phone"], "to": lead_number, "body": "Hello?"})

    sign_in(page, server.base, staff.email, staff.password)
    page.goto(server.base + "/leads")
    expect_count(page, "Open", 2)

    page.get_by_label("Search by name or phone").fill("maria")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/leads\?q=maria"))
    expect(card(page, maria["id"])).to_be_visible()
    expect(card(page, other["id"])).to_have_count(0)
    expect_count(page, "Open", 1)
    expect(page.get_by_text("1 lead matching “maria”")).to_be_visible()

    # By phone, written as people write it.
    digits = other["phone"][-10:]
    written = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    page.get_by_label("Search by name or phone").fill(written)
    page.get_by_role("button", name="Search").click()
    expect(card(page, other["id"])).to_be_visible()
    expect(card(page, maria["id"])).to_have_count(0)

    page.goto(server.base + "/leads")
    page.get_by_label("Show").select_option(label="Unread only")
    page.get_by_role("button", name="Search").click()
    expect(card(page, other["id"])).to_be_visible()
    expect(card(page, maria["id"])).to_have_count(0)
    assert_accessible(page)


def test_the_board_refreshes_live_and_keeps_the_search(
    server: Server, page: Page, staff: Staff
) -> None:
    clinic = staff.clinic
    kept = add_lead(clinic, "Kim", "Kept")
    hidden = add_lead(clinic, "Hal", "Hidden")

    sign_in(page, server.base, staff.email, staff.password)
    page.goto(server.base + "/leads?q=kim")
    expect(card(page, kept["id"])).to_be_visible()
    expect_count(page, "In progress", 0)

    # Changes made elsewhere (here, through the API) reach the open page without a reload.
    clinic.call("PUT", f"/patients/{kept['id']}/lead", {"stage": "in_progress"}, expect=200)
    clinic.call("PUT", f"/patients/{hidden['id']}/lead", {"stage": "in_progress"}, expect=200)
    expect_count(page, "In progress", 1)
    expect(column(page, "In progress").locator(f"#lead-{kept['id']}")).to_be_visible()
    expect(card(page, hidden["id"])).to_have_count(0)  # the search still holds
    expect(page.get_by_label("Search by name or phone")).to_have_value("kim")


def test_a_lead_name_with_html_is_shown_as_text(server: Server, page: Page, staff: Staff) -> None:
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    lead = add_lead(staff.clinic, "<script>alert(1)</script>", "<b>Bold</b>")

    sign_in(page, server.base, staff.email, staff.password)
    page.goto(server.base + "/leads")
    shown = card(page, lead["id"]).get_by_role(
        "link", name="<script>alert(1)</script> <b>Bold</b>", exact=True
    )
    expect(shown).to_be_visible()
    expect(card(page, lead["id"]).locator("script, b")).to_have_count(0)
    open_stage_form(page, lead["id"])
    heading = page.get_by_role(
        "heading", name="Change the stage of <script>alert(1)</script> <b>Bold</b>", exact=True
    )
    expect(heading).to_be_visible()
    assert alerts == []


def test_another_clinics_lead_cannot_be_moved(server: Server, page: Page, staff: Staff) -> None:
    other = server.new_clinic("Elsewhere")
    theirs = add_lead(other, "Not", "Yours")
    sign_in(page, server.base, staff.email, staff.password)
    answer = page.request.get(server.base + f"/leads/{theirs['id']}/move")
    assert answer.status == 404
    token = json.loads(page.locator("body").get_attribute("hx-headers") or "{}")
    answer = page.request.post(
        server.base + f"/leads/{theirs['id']}/stage",
        form={"stage": "closed_won"},
        headers=token,
    )
    assert answer.status == 404
    assert lead_of(other, theirs["id"])["stage"] == "open"


def test_the_stage_form_works_as_a_plain_form_and_refuses_a_post_without_its_token(
    server: Server, staff: Staff
) -> None:
    lead = add_lead(staff.clinic, "Plain", "Form")
    with closing(signed_in_http(server.base, staff.email, staff.password)) as http:
        page = http.get("/leads", params={"move": lead["id"], "q": "plain"})
        assert page.status_code == 200
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token and 'id="move-stage"' in page.text
        form = {"stage": "closed_lost", "reason": "", "q": "plain", "show": ""}

        refused = http.post(f"/leads/{lead['id']}/stage", data=form)
        assert refused.status_code == 403
        assert "nothing was changed" in refused.text

        form["csrf_token"] = token.group(1)
        again = http.post(f"/leads/{lead['id']}/stage", data=form)
        assert again.status_code == 422
        assert "needs a reason" in again.text and "<h1>Lead Dashboard</h1>" in again.text
        assert '<option value="closed_lost" selected>' in again.text
        assert lead_of(staff.clinic, lead["id"])["stage"] == "open"

        form["reason"] = "No insurance match"
        moved = http.post(f"/leads/{lead['id']}/stage", data=form, follow_redirects=False)
        assert moved.status_code == 303 and moved.headers["location"] == "/leads?q=plain"
    assert lead_of(staff.clinic, lead["id"])["reason"] == "No insurance match"
