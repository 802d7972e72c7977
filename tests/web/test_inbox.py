"""The inbox in a real browser: a reply arriving live (bold, its unread count, the
navigation badge), Mark read, the filters (unknown senders, needs review, failed texts,
mine), assignment, escaping, screenshots and the accessibility check."""

from __future__ import annotations

import json
import re
from contextlib import closing
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.e2e.harness import FINAL, Clinic, Server, fresh_phone
from tests.web.browser import (
    Staff,
    add_user,
    assert_accessible,
    screenshot,
    sign_in,
    signed_in_http,
)


def clinic_number(clinic: Clinic) -> str:
    return str(next(n["number"] for n in clinic.get("/numbers") if n["purpose"] == "clinic"))


def add_patient(clinic: Clinic, first: str, last: str = "Patient") -> dict[str, Any]:
    patient: dict[str, Any] = clinic.post(
        "/patients", {"first_name": first, "last_name": last, "phone": fresh_phone()}, expect=201
    ).json()
    return patient


def reply(server: Server, clinic: Clinic, phone: str, body: str) -> None:
    """The patient texts the clinic's number, through the carrier simulator."""
    server.sim("/inbound", {"from": phone, "to": clinic_number(clinic), "body": body})


def row(page: Page, patient_id: int) -> Locator:
    return page.locator(f"#conversation-{patient_id}")


def nav_badge(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Main").locator("#nav-unread")


def choose_filter(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Inbox filters").get_by_role("link", name=name).click()
    expect(
        page.get_by_role("navigation", name="Inbox filters").get_by_role("link", name=name)
    ).to_have_attribute("aria-current", "true")


def test_a_reply_appears_live_bold_with_its_count_and_mark_read_clears_it(
    server: Server, page: Page, staff: Staff
) -> None:
    clinic = staff.clinic
    quiet = add_patient(clinic, "Quiet")
    patient = add_patient(clinic, "Rosa", "Reply")
    reply(server, clinic, quiet["phone"], "An older message")

    sign_in(page, server.base, staff.email, staff.password)
    page.goto(server.base + "/inbox")
    expect(row(page, quiet["id"])).to_be_visible()
    page.get_by_role("button", name="Mark read").click()
    expect(row(page, quiet["id"]).get_by_text("unread")).to_have_count(0)
    expect(nav_badge(page)).to_have_text("")
    expect(row(page, patient["id"])).to_have_count(0)  # no texts yet: no conversation

    # The patient replies: the row appears at the top, bold, with its count; the navigation
    # badge goes up, all without a reload.
    reply(server, clinic, patient["phone"], "Can I come at 4pm instead?")
    rosa = row(page, patient["id"])
    expect(rosa).to_be_visible()
    expect(rosa).to_contain_text("Can I come at 4pm instead?")
    expect(rosa).to_contain_text("1 unread")
    name = rosa.get_by_role("link", name="Rosa Reply", exact=True)
    expect(name).to_have_attribute("href", f"/patients/{patient['id']}")
    expect(name).to_have_css("font-weight", "700")
    expect(page.locator(".conversation").first).to_have_id(f"conversation-{patient['id']}")
    expect(nav_badge(page)).to_contain_text("1")

    reply(server, clinic, patient["phone"], "Or 5pm")
    expect(rosa).to_contain_text("2 unread")
    expect(nav_badge(page)).to_contain_text("2")
    expect(rosa).to_contain_text("Or 5pm")
    assert_accessible(page)
    screenshot(page, "inbox")

    rosa.get_by_role("button", name="Mark read").click()
    expect(rosa.get_by_text("unread")).to_have_count(0)
    expect(rosa.get_by_role("link", name="Rosa Reply", exact=True)).to_have_css(
        "font-weight", "400"
    )
    expect(nav_badge(page)).to_have_text("")
    assert clinic.get(f"/patients/{patient['id']}")["unread_count"] == 0


def test_the_filters_show_unknown_senders_reviews_and_unread_ones(
    server: Server, page: Page, staff: Staff
) -> None:
    clinic = staff.clinic
    known = add_patient(clinic, "Known")
    worried = add_patient(clinic, "Worried")
    stranger = fresh_phone()
    reply(server, clinic, known["phone"], "See you soon")
    reply(server, clinic, stranger, "Who is this?")
    reply(server, clinic, worried["phone"], "Please stop texting me")

    sign_in(page, server.base, staff.email, staff.password)
    page.goto(server.base + "/inbox")
    digits = stranger[-10:]
    shown_as = f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    stranger_row = page.locator(".conversation", has_text="Who is this?")
    expect(stranger_row.get_by_role("link", name=shown_as, exact=True)).to_be_visible()
    expect(stranger_row).to_contain_text("Unknown sender")

    choose_filter(page, "Unknown senders")
    expect(page).to_have_url(re.compile(r"/inbox\?filter=unknown$"))
    expect(page.locator(".conversation")).to_have_count(1)
    expect(page.locator(".conversation")).to_contain_text("Who is this?")

    choose_filter(page, "Needs review")
    expect(page.locator(".conversation")).to_have_count(1)
    expect(row(page, worried["id"])).to_contain_text("Needs review")

    choose_filter(page, "Unread")
    expect(page.locator(".conversation")).to_have_count(3)
    row(page, known["id"]).get_by_role("button", name="Mark read").click()
    expect(page.locator(".conversation")).to_have_count(2)  # the view stays "Unread"
    expect(page).to_have_url(re.compile(r"filter=unread"))
    assert_accessible(page)

    choose_filter(page, "Failed texts")
    expect(page.get_by_text("No conversation whose last text failed.")).to_be_visible()


def test_assigning_a_conversation_to_me_puts_it_under_mine(
    server: Server, page: Page, staff: Staff
) -> None:
    clinic = staff.clinic
    colleague = add_user(server, clinic, "staff")
    mine = add_patient(clinic, "Mine")
    theirs = add_patient(clinic, "Theirs")
    reply(server, clinic, mine["phone"], "Hello from mine")
    reply(server, clinic, theirs["phone"], "Hello from theirs")

    sign_in(page, server.base, staff.email, staff.password)
    page.goto(server.base + "/inbox")
    mine_row = row(page, mine["id"])
    expect(mine_row).to_contain_text("Not assigned")
    mine_row.get_by_label("Assignee").select_option(label=f"{staff.email} (me)")
    mine_row.get_by_role("button", name="Assign").click()
    expect(mine_row).to_contain_text("Assigned to you")
    theirs_row = row(page, theirs["id"])
    theirs_row.get_by_label("Assignee").select_option(label=colleague.email)
    theirs_row.get_by_role("button", name="Assign").click()
    expect(theirs_row).to_contain_text(f"Assigned to {colleague.email}")

    choose_filter(page, "Mine")
    expect(page.locator(".conversation")).to_have_count(1)
    expect(row(page, mine["id"])).to_be_visible()
    screenshot(page, "inbox-mine")

    row(page, mine["id"]).get_by_role("button", name="Unassign").click()
    expect(page.get_by_text("No conversations are assigned to you.")).to_be_visible()
    assert_accessible(page)

    events = clinic.get("/audit", entity="patient", entity_id=mine["id"])
    assigned = [(e["action"], e["actor"]) for e in events if e["action"].startswith("conv")]
    assert assigned == [
        ("conversation.unassigned", f"user:{staff.user_id}"),
        ("conversation.assigned", f"user:{staff.user_id}"),
    ]


def test_a_failed_text_shows_under_failed_texts_with_its_label(
    server: Server, page: Page, staff: Staff
) -> None:
    clinic = staff.clinic
    patient = clinic.patient(fresh_phone())
    fine = clinic.patient(fresh_phone())
    server.sim(f"/numbers/{patient.phone}", {"persona": "landline"})
    failed = clinic.send(patient, "Your appointment is tomorrow at 9.")
    delivered = clinic.send(fine, "Your appointment is tomorrow at 10.")
    assert clinic.wait_for(failed, FINAL)["label"] == "Failed"
    assert clinic.wait_for(delivered, FINAL)["label"] == "Delivered"

    sign_in(page, server.base, staff.email, staff.password)
    page.goto(server.base + "/inbox")
    failing = row(page, patient.id)
    expect(failing).to_contain_text("Last text to the patient: Failed")
    expect(failing).to_contain_text("Clinic: Your appointment is tomorrow at 9.")
    expect(row(page, fine.id)).not_to_contain_text("Failed")

    choose_filter(page, "Failed texts")
    expect(page.locator(".conversation")).to_have_count(1)
    expect(row(page, patient.id)).to_be_visible()
    screenshot(page, "inbox-failed")
    assert_accessible(page)


def test_a_patient_name_and_text_with_html_are_shown_as_text(
    server: Server, page: Page, staff: Staff
) -> None:
    alerts: list[str] = []
    page.on("dialog", lambda dialog: (alerts.append(dialog.message), dialog.dismiss()))
    clinic = staff.clinic
    patient = add_patient(clinic, "<script>alert(1)</script>", "<i>x</i>")
    reply(server, clinic, patient["phone"], "<img src=x onerror=alert(2)> hi")

    sign_in(page, server.base, staff.email, staff.password)
    page.goto(server.base + "/inbox")
    shown = row(page, patient["id"])
    expect(
        shown.get_by_role("link", name="<script>alert(1)</script> <i>x</i>", exact=True)
    ).to_be_visible()
    expect(shown).to_contain_text("<img src=x onerror=alert(2)> hi")
    expect(shown.locator("script, img, i")).to_have_count(0)
    assert alerts == []


def test_another_clinics_conversation_cannot_be_read_or_assigned(
    server: Server, page: Page, staff: Staff
) -> None:
    other = server.new_clinic("Other Clinic")
    theirs = add_patient(other, "Not", "Yours")
    sign_in(page, server.base, staff.email, staff.password)
    page.goto(server.base + "/inbox")
    headers = json.loads(page.locator("body").get_attribute("hx-headers") or "{}")
    for action in ("read", "unassign"):
        answer = page.request.post(
            server.base + f"/inbox/{theirs['id']}/{action}", form={}, headers=headers
        )
        assert answer.status == 404, action
    answer = page.request.post(
        server.base + f"/inbox/{theirs['id']}/assign",
        form={"user_id": str(staff.user_id)},
        headers=headers,
    )
    assert answer.status == 404
    events = other.get("/audit", entity="patient", entity_id=theirs["id"])
    assert not [e for e in events if e["action"].startswith("conversation.")]


def test_mark_read_works_as_a_plain_form_and_comes_back_to_the_same_view(
    server: Server, staff: Staff
) -> None:
    patient = add_patient(staff.clinic, "Plain")
    reply(server, staff.clinic, patient["phone"], "Hi there")
    with closing(signed_in_http(server.base, staff.email, staff.password)) as http:
        page = http.get("/inbox", params={"filter": "unread"})
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token and "1 unread" in page.text
        answer = http.post(
            f"/inbox/{patient['id']}/read",
            data={"csrf_token": token.group(1), "filter": "unread", "limit": "50"},
            follow_redirects=False,
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/inbox?filter=unread"
        assert "Nothing unread" in http.get("/inbox?filter=unread").text
    assert staff.clinic.get(f"/patients/{patient['id']}")["unread_count"] == 0


def test_load_more_shows_the_next_conversations_and_the_refresh_keeps_them(
    server: Server, page: Page, staff: Staff
) -> None:
    number = clinic_number(staff.clinic)
    senders = [fresh_phone() for _ in range(52)]
    for n, phone in enumerate(senders):
        server.sim("/inbound", {"from": phone, "to": number, "body": f"Question {n}"})

    sign_in(page, server.base, staff.email, staff.password)
    page.goto(server.base + "/inbox")
    rows = page.locator(".conversation")
    expect(rows).to_have_count(50)
    expect(rows.first).to_contain_text("Question 51")
    page.get_by_role("link", name="Load more").click()
    expect(rows).to_have_count(52)
    expect(rows.last).to_contain_text("Question 0")
    expect(page).to_have_url(re.compile(r"/inbox\?limit=100$"))
    expect(page.get_by_role("link", name="Load more")).to_have_count(0)

    server.sim("/inbound", {"from": senders[0], "to": number, "body": "Any news?"})
    expect(rows.first).to_contain_text("Any news?")
    expect(rows).to_have_count(52)
