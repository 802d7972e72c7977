"""The patient page in a real browser: the conversation with labels and diagnoses, live
updates, the revocation-review banner, the side panel's forms (phone, consent, lead stage,
commlogs, merge), escaping, 404 for another clinic's patient and CSRF refusal."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.e2e.harness import Clinic, Number, Patient, Server, fresh_phone, fresh_sender, wait_until
from tests.web.browser import PHONE, WIDE, Staff, add_user, assert_accessible, screenshot, sign_in


@dataclass
class Office:
    """One clinic for the whole module, with its numbers and a staff user."""

    staff: Staff
    lead_number: str
    clinic_number: str

    @property
    def clinic(self) -> Clinic:
        return self.staff.clinic


def make_office(server: Server, name: str) -> Office:
    lead, clinic = fresh_sender(), fresh_sender()
    made = server.new_clinic(name, [Number(lead, "lead"), Number(clinic, "clinic")])
    return Office(add_user(server, made, "staff"), lead, clinic)


@pytest.fixture(scope="module")
def office(server: Server) -> Office:
    return make_office(server, "Patient Page Clinic")


def new_patient(
    office: Office, first: str = "Pat", last: str = "Test", *, lead: str | None = None
) -> Patient:
    """An opted-in patient, a lead at ``lead`` when given."""
    patient = office.clinic.patient()
    if (first, last) != ("Pat", "Test"):
        office.clinic.call(
            "PATCH", f"/patients/{patient.id}", {"first_name": first, "last_name": last}, expect=200
        )
    if lead:
        office.clinic.call("PUT", f"/patients/{patient.id}/lead", {"stage": lead}, expect=200)
    return patient


def open_patient(page: Page, server: Server, office: Office, patient_id: int) -> None:
    sign_in(page, server.base, office.staff.email, office.staff.password)
    page.goto(f"{server.base}/patients/{patient_id}")
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    # The page is live once its event stream is open.
    page.wait_for_function("() => document.querySelector('#live') !== null")


def reply(
    server: Server, office: Office, patient: Patient, body: str, to: str | None = None
) -> Any:
    return server.sim(
        "/inbound", {"from": patient.phone, "to": to or office.clinic_number, "body": body}
    )


def message_item(page: Page, body: str) -> Locator:
    return page.locator("ol.thread > li").filter(has_text=body)


def test_opening_reads_the_conversation_and_a_reply_appears_live_with_the_automatic_answer(
    server: Server, page: Page, office: Office
) -> None:
    patient = new_patient(office, "Rita", "Reply", lead="open")
    office.clinic.call(
        "PUT",
        f"/patients/{patient.id}/lead",
        {"stage": "closed_lost", "reason": "moved away"},
        expect=200,
    )
    office.clinic.send(patient, "Your cleaning is on Friday at 9.")
    reply(server, office, patient, "Is Friday still fine?")
    wait_until(
        lambda: office.clinic.get(f"/patients/{patient.id}")["unread_count"] == 1 or None,
        20,
        "the reply to be unread",
    )

    open_patient(page, server, office, patient.id)
    expect(message_item(page, "Your cleaning is on Friday at 9.")).to_contain_text("Delivered")
    expect(message_item(page, "Is Friday still fine?")).to_contain_text("Received")
    # Opening the conversation reads it.
    expect(page.locator(".unread-note")).to_have_count(0)
    assert office.clinic.get(f"/patients/{patient.id}")["unread_count"] == 0

    # A reply to the closed lead's number appears live, with the clinic's automatic answer.
    reply(server, office, patient, "Could I come at 10 instead?", to=office.lead_number)
    received = message_item(page, "Could I come at 10 instead?")
    expect(received).to_contain_text("Received")
    expect(received.locator(".channel")).to_have_text("Channel: Lead")
    answer = page.locator("ol.thread > li", has_text="Automatic reply")
    expect(answer).to_have_count(1)
    expect(answer.locator(".label").first).to_have_text("Delivered")
    expect(page.locator(".unread-note")).to_contain_text("1 unread")
    expect(page.locator("#nav-unread .badge")).to_be_visible()

    page.get_by_role("button", name="Mark read").click()
    expect(page.locator(".unread-note")).to_have_count(0)
    assert office.clinic.get(f"/patients/{patient.id}")["unread_count"] == 0


def test_a_failed_text_shows_its_diagnosis_fix_and_history_and_a_new_phone_lifts_the_block(
    server: Server, page: Page, office: Office
) -> None:
    patient = new_patient(office, "Lou", "Landline")
    server.sim(f"/numbers/{patient.phone}", {"persona": "landline"})
    message_id = office.clinic.send(patient, "Reminder: your visit is tomorrow.")
    office.clinic.wait_for(message_id, {"undelivered", "failed"})

    open_patient(page, server, office, patient.id)
    failed = message_item(page, "Reminder: your visit is tomorrow.")
    expect(failed.locator(".label").first).to_have_text("Failed")
    diagnosis = failed.locator(".diagnosis")
    expect(diagnosis).to_be_hidden()
    failed.get_by_text("Why failed?").click()
    expect(diagnosis).to_contain_text("invalid or a landline")
    expect(failed.locator(".diagnosis-fix")).to_contain_text("wireless phone")
    expect(failed.locator(".history")).to_contain_text("Undelivered")
    expect(failed.locator(".history")).to_contain_text("error 30006")

    # The carrier flagged the phone: the composer says so and how to fix it.
    checks = page.locator("#composer-checks")
    expect(checks).to_contain_text("Patient's wireless phone")
    expect(checks).to_contain_text("Edit the patient's wireless phone")

    # A bad phone is refused next to the field, with what was typed kept.
    details = page.locator("#details-section")
    details.get_by_text("Edit name and phone").click()
    details.get_by_label("Wireless phone").fill("12345")
    details.get_by_role("button", name="Save").click()
    phone_field = details.get_by_label("Wireless phone")
    expect(phone_field).to_have_attribute("aria-invalid", "true")
    expect(details.locator("#details-phone-error")).to_be_visible()
    expect(phone_field).to_have_value("12345")
    assert office.clinic.get(f"/patients/{patient.id}")["phone"] == patient.phone

    # A good one is saved; consent is per number, so the new one needs an opt-in.
    new_phone = fresh_phone()
    details.get_by_label("Wireless phone").fill(new_phone)
    details.get_by_role("button", name="Save").click()
    expect(details.get_by_role("status")).to_have_text("Saved.")
    expect(page.locator("#patient-header")).to_contain_text("No consent recorded")
    consent = page.locator("#consent-section")
    consent.locator("summary", has_text="Record opt-in").click()
    consent.get_by_label("Source").select_option("verbal")
    consent.get_by_label("Evidence").first.fill("Confirmed the new number on the phone")
    consent.get_by_role("button", name="Record opt-in").click()
    expect(consent.get_by_role("status")).to_contain_text("Opt-in recorded")
    expect(page.get_by_label("Message", exact=True)).to_be_enabled()
    expect(page.locator("#composer-checks")).to_have_count(0)


def test_moving_a_lead_to_closed_lost_needs_a_reason_and_closes_the_lead_channel(
    server: Server, page: Page, office: Office
) -> None:
    patient = new_patient(office, "Nora", "Lead", lead="in_progress")
    open_patient(page, server, office, patient.id)
    expect(page.get_by_label("Channel")).to_have_value("lead")  # an active lead
    expect(page.get_by_label("Message", exact=True)).to_be_enabled()

    lead = page.locator("#lead-section")
    lead.get_by_text("Change stage").click()
    lead.get_by_label("Stage").select_option("closed_lost")
    lead.get_by_label("Sub-status").fill("after two calls")
    lead.get_by_role("button", name="Save stage").click()
    reason = lead.get_by_label("Reason")
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(lead.locator("#lead-reason-error")).to_contain_text("needs a reason")
    expect(lead.get_by_label("Stage")).to_have_value("closed_lost")  # typed values kept
    expect(lead.get_by_label("Sub-status")).to_have_value("after two calls")
    expect(page.locator("#patient-lead")).to_contain_text("In progress")
    assert office.clinic.get(f"/patients/{patient.id}/lead")["stage"] == "in_progress"
    assert_accessible(page)  # the error is tied to its field

    reason.fill("chose another clinic")
    lead.get_by_role("button", name="Save stage").click()
    expect(lead.get_by_role("status")).to_have_text("Stage saved.")
    expect(page.locator("#patient-lead")).to_contain_text("Closed lost")
    expect(page.locator("#patient-lead")).to_contain_text("chose another clinic")
    assert office.clinic.get(f"/patients/{patient.id}/lead")["stage"] == "closed_lost"
    # The composer (still on the Lead channel) now explains why it cannot send.
    expect(page.locator("#composer-checks")).to_contain_text("Lead stage")
    expect(page.get_by_label("Message", exact=True)).to_be_disabled()


def test_a_sent_commlog_can_be_deleted_and_a_received_one_cannot_with_the_reason(
    server: Server, page: Page, office: Office
) -> None:
    patient = new_patient(office, "Cole", "Commlog")
    office.clinic.send(patient, "Sent: your forms are ready")
    reply(server, office, patient, "Received: thanks")
    wait_until(
        lambda: len(office.clinic.get("/commlogs", patient_id=patient.id)) == 2 or None,
        20,
        "two commlogs",
    )
    open_patient(page, server, office, patient.id)
    commlogs = page.locator("#patient-commlogs")
    received = commlogs.locator("li").filter(has_text="Received: thanks")
    sent = commlogs.locator("li").filter(has_text="Sent: your forms are ready")
    expect(received).to_contain_text("Cannot be deleted")
    expect(received).to_contain_text("tied to the text itself")
    expect(received.get_by_role("button")).to_have_count(0)

    sent.get_by_role("button", name="Delete").click()
    expect(sent).to_have_count(0)
    expect(received).to_have_count(1)
    left = office.clinic.get("/commlogs", patient_id=patient.id)
    assert [c["direction"] for c in left] == ["inbound"]


def test_script_in_a_name_and_in_texts_is_shown_as_text_and_never_runs(
    server: Server, page: Page, office: Office
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    name = "<script>alert('name')</script>"
    body = "<script>alert('body')</script><img src=x onerror=alert('img')>"
    patient = new_patient(office, name, "<b>Bold</b>")
    office.clinic.send(patient, body)
    reply(server, office, patient, "<script>alert('reply')</script>")

    open_patient(page, server, office, patient.id)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{name} <b>Bold</b>")
    expect(message_item(page, "alert('body')").locator(".body")).to_have_text(body)
    expect(message_item(page, "alert('reply')").locator(".body")).to_have_text(
        "<script>alert('reply')</script>"
    )
    page.get_by_label("Message", exact=True).fill("<img src=x onerror=alert('typed')>")
    expect(page.locator("#composer-lint")).to_contain_text("part")
    expect(page.locator("#patient-commlogs")).to_contain_text("<script>alert('reply')</script>")
    assert page.locator("main script, main img").count() == 0
    assert page.title().startswith(name)
    assert dialogs == []


def test_another_clinics_patient_is_not_found_and_cannot_be_changed(
    server: Server, page: Page, office: Office
) -> None:
    other = server.new_clinic("Another Clinic")
    theirs = other.patient()
    other.call("PUT", f"/patients/{theirs.id}/lead", {"stage": "open"}, expect=200)
    sign_in(page, server.base, office.staff.email, office.staff.password)

    answer = page.goto(f"{server.base}/patients/{theirs.id}")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text(f"There is no patient {theirs.id}")

    token = csrf_token(page)
    with session_client(server, page) as http:
        assert http.get(f"/patients/{theirs.id}/live/conversation").status_code == 404
        moved = http.post(
            f"/patients/{theirs.id}/lead",
            data={"stage": "closed_lost", "reason": "not ours"},
            headers={"X-CSRF-Token": token},
        )
        assert moved.status_code == 404
    assert other.get(f"/patients/{theirs.id}/lead")["stage"] == "open"


def csrf_token(page: Page) -> str:
    headers = page.locator("body").get_attribute("hx-headers") or ""
    match = re.search(r'"X-CSRF-Token": "([^"]+)"', headers)
    assert match, headers
    return match.group(1)


def session_client(server: Server, page: Page) -> httpx.Client:
    """Plain HTTP with the browser's session cookie (and nothing else)."""
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    return httpx.Client(base_url=server.base, cookies=cookies, timeout=30)


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    server: Server, page: Page, office: Office
) -> None:
    patient = new_patient(office, "Cy", "Surf", lead="open")
    open_patient(page, server, office, patient.id)
    token = csrf_token(page)
    form = {"stage": "closed_lost", "reason": "forged"}
    with session_client(server, page) as http:
        refused = http.post(f"/patients/{patient.id}/lead", data=form)
        assert refused.status_code == 403
        assert "nothing was changed" in refused.text
        sent = http.post(f"/patients/{patient.id}/messages", data={"body": "x", "channel": "lead"})
        assert sent.status_code == 403
        assert office.clinic.get(f"/patients/{patient.id}/lead")["stage"] == "open"
        assert office.clinic.get(f"/patients/{patient.id}/messages") == []

        # The same request with the page's token goes through: the token was the reason.
        allowed = http.post(
            f"/patients/{patient.id}/lead", data=form, headers={"X-CSRF-Token": token}
        )
        assert allowed.status_code == 200, allowed.text
    assert office.clinic.get(f"/patients/{patient.id}/lead")["stage"] == "closed_lost"


@pytest.mark.timeout(180)
def test_the_page_with_a_review_banner_is_accessible_at_both_widths_and_confirm_opts_out(
    server: Server, page: Page, office: Office
) -> None:
    patient = new_patient(office, "Ada", "Review", lead="open")
    office.clinic.send(patient, "Hi Ada, this is the clinic. Do you want to book a visit?", "lead")
    open_patient(page, server, office, patient.id)
    reply(server, office, patient, "Please stop texting me", to=office.lead_number)

    banner = page.locator("#patient-review")
    expect(banner).to_contain_text("This reply may be asking to stop texts")
    expect(banner).to_contain_text("Please stop texting me")
    expect(message_item(page, "Please stop texting me")).to_contain_text("Waiting for review")
    page.get_by_label("Message", exact=True).fill("Thanks, we will not text again")
    expect(page.locator("#composer-lint")).to_contain_text("GSM-7")
    screenshot(page, "patient")
    # Every part opened (forms, histories), at both widths.
    page.evaluate("document.querySelectorAll('main details').forEach(d => { d.open = true; })")
    expect(page.locator(".history-slot .history")).to_have_count(1)
    assert_accessible(page)
    page.set_viewport_size(PHONE)
    assert_accessible(page)
    page.set_viewport_size(WIDE)
    page.evaluate("document.querySelectorAll('main details').forEach(d => { d.open = false; })")

    page.get_by_role("button", name="Confirm opt-out").click()
    expect(banner.get_by_role("button", name="Confirm opt-out")).to_have_count(0)
    expect(page.get_by_label("Message", exact=True)).to_be_disabled()
    checks = page.locator("#composer-checks")
    expect(checks).to_contain_text("asked in a text to stop receiving texts")
    consent = office.clinic.get(f"/patients/{patient.id}/consent")
    assert consent["state"] == "opted_out"
    assert consent["history"][-1]["source"] == "free_text"
    screenshot(page, "patient-cannot-text")
    assert_accessible(page)


def test_an_unknown_sender_is_merged_into_the_patient_it_turns_out_to_be(
    server: Server, page: Page, office: Office
) -> None:
    known = new_patient(office, "Marguerite", "Known")
    stranger = Patient(0, fresh_phone())
    reply(server, office, stranger, "Hi, it's Marguerite from my new phone")
    unknown = wait_until(
        lambda: office.clinic.get("/patients", phone=stranger.phone),
        20,
        "the unknown sender's record",
    )[0]
    assert unknown["unknown_sender"] is True

    open_patient(page, server, office, unknown["id"])
    expect(page.locator("#patient-header")).to_contain_text("Unknown sender")
    merge = page.locator("#merge-section")
    merge.get_by_label("Find the patient").fill("Marguer")
    merge.get_by_role("button", name="Merge into Marguerite Known").click()
    expect(page).to_have_url(re.compile(rf"/patients/{known.id}$"))
    expect(message_item(page, "it's Marguerite from my new phone")).to_contain_text("Received")
    missing = office.clinic.call("GET", f"/patients/{unknown['id']}", expect=None)
    assert missing.status_code == 404
