"""The composer on the patient page in a real browser: disabled with every failing check and
its fix when the patient cannot be texted, the clinic channel offered for a closed lead, a
text that turns Delivered without a reload, a STOP that disables it live, the parts,
encoding and lint findings while typing, and refusals that keep what was typed."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.harness import Server
from tests.web.browser import screenshot
from tests.web.test_patient_page import (
    Office,
    csrf_token,
    make_office,
    message_item,
    new_patient,
    open_patient,
    reply,
    session_client,
)


@pytest.fixture(scope="module")
def office(server: Server) -> Office:
    return make_office(server, "Composer Clinic")


def test_stop_from_the_patient_disables_the_composer_live_and_only_the_patient_can_undo_it(
    server: Server, page: Page, office: Office
) -> None:
    patient = new_patient(office)
    open_patient(page, server, office, patient.id)
    box = page.get_by_label("Message", exact=True)
    expect(box).to_be_enabled()
    expect(page.get_by_label("Channel")).to_have_value("clinic")  # not a lead
    box.fill("See you on Tuesday")

    reply(server, office, patient, "STOP")

    # Live: the STOP, its confirmation, and a composer that can no longer send.
    expect(message_item(page, "STOP")).to_contain_text("Keyword text: opt-out")
    expect(message_item(page, "STOP")).to_contain_text("Received")
    expect(page.locator("ol.thread > li", has_text="Keyword reply")).to_have_count(1)
    expect(box).to_be_disabled()
    expect(page.get_by_role("button", name="Send")).to_be_disabled()
    checks = page.locator("#composer-checks")
    expect(checks).to_contain_text("Consent")
    expect(checks).to_contain_text("The patient opted out: they replied STOP")
    expect(checks).to_contain_text("Only the patient can opt back in")
    expect(box).to_have_value("See you on Tuesday")  # what was typed is kept
    expect(page.locator("#patient-header")).to_contain_text("Opted out")

    # Staff cannot record an opt-in over the patient's own STOP: the refusal is shown.
    consent = page.locator("#consent-section")
    consent.locator("summary", has_text="Record opt-in").click()
    consent.get_by_label("Source").select_option("paper_form")
    consent.get_by_label("Evidence").first.fill("Signed the intake form")
    consent.get_by_role("button", name="Record opt-in").click()
    expect(consent.get_by_role("alert")).to_contain_text("only the patient can opt back in")
    expect(consent.get_by_label("Evidence").first).to_have_value("Signed the intake form")
    assert office.clinic.get(f"/patients/{patient.id}/consent")["state"] == "opted_out"

    # Opening the page afresh: still disabled, with the same fix.
    page.reload()
    expect(page.get_by_label("Message", exact=True)).to_be_disabled()
    expect(page.locator("#composer-checks")).to_contain_text("ask them to text START")


def test_a_closed_lead_shows_the_lead_stage_fix_and_the_clinic_channel_sends_and_delivers(
    server: Server, page: Page, office: Office
) -> None:
    patient = new_patient(office, "Lena", "Closed", lead="open")
    office.clinic.call(
        "PUT",
        f"/patients/{patient.id}/lead",
        {"stage": "closed_won", "substatus": "scheduled"},
        expect=200,
    )
    open_patient(page, server, office, patient.id)
    page.evaluate("window.stillTheSamePage = true")
    channel = page.get_by_label("Channel")
    box = page.get_by_label("Message", exact=True)
    expect(channel).to_have_value("clinic")  # the lead is closed: Clinic by default
    box.fill("Your appointment is confirmed.")

    channel.select_option("lead")
    checks = page.locator("#composer-checks")
    expect(checks).to_contain_text("Lead stage")
    expect(checks).to_contain_text("closed won (scheduled)")
    expect(checks).to_contain_text("Text from the clinic channel")
    expect(box).to_be_disabled()
    expect(box).to_have_value("Your appointment is confirmed.")
    # Only the failing checks are listed, and the lead stage one is there.
    expect(checks.locator("li.check")).to_have_count(1)
    screenshot(page, "composer-lead-closed")

    page.get_by_role("button", name="Text from the Clinic channel instead").click()
    expect(channel).to_have_value("clinic")
    expect(box).to_be_enabled()
    expect(box).to_have_value("Your appointment is confirmed.")

    # Hold the carrier's delivery report a moment so the text is seen Pending first.
    server.sim("/chaos", {"callback_delay_ms": [2500, 2500]})
    try:
        page.get_by_role("button", name="Send").click()
        sent = message_item(page, "Your appointment is confirmed.")
        expect(sent).to_contain_text("Pending")
        expect(sent).to_contain_text("Clinic")
        expect(box).to_have_value("")
        expect(sent.locator(".label").first).to_have_text("Delivered")
    finally:
        server.sim("/chaos", {"callback_delay_ms": None})
    assert page.evaluate("window.stillTheSamePage") is True  # no reload happened
    expect(sent.locator(".author")).to_contain_text(office.staff.email)
    # A delivered text's history is there too, when asked for.
    sent.get_by_text("Status history").click()
    expect(sent.locator(".history")).to_contain_text("Delivered")
    expect(sent.locator(".history")).to_contain_text("Sent (carrier accepted)")


def test_typing_shows_parts_encoding_the_ucs2_characters_and_lint_findings(
    server: Server, page: Page, office: Office
) -> None:
    patient = new_patient(office)
    open_patient(page, server, office, patient.id)
    box = page.get_by_label("Message", exact=True)
    lint = page.locator("#composer-lint")

    box.press_sequentially("It\u2019s ready: bit.ly/x7", delay=5)
    expect(lint).to_contain_text("UCS-2")
    expect(lint).to_contain_text("1 part")
    expect(lint.locator(".ucs2")).to_contain_text("\u2019")
    expect(lint.locator(".ucs2")).to_contain_text("right single quotation mark")
    expect(lint.locator("li[data-code]")).not_to_have_count(0)
    expect(lint).to_contain_text("bit.ly")
    screenshot(page, "composer-typing")

    box.fill("a" * 200)
    expect(lint).to_contain_text("2 parts")
    expect(lint).to_contain_text("GSM-7")
    expect(lint.locator(".ucs2")).to_have_count(0)


def test_a_refused_send_is_shown_in_the_composer_and_keeps_the_text(
    server: Server, page: Page, office: Office
) -> None:
    patient = new_patient(office, "Rey", "Refused")
    open_patient(page, server, office, patient.id)
    box = page.get_by_label("Message", exact=True)
    send = page.get_by_role("button", name="Send")

    send.click()  # nothing typed
    expect(page.locator("#composer-error")).to_contain_text("The message is empty")
    expect(box).to_be_enabled()

    office.clinic.call("PATCH", "/org", {"url_policy": "block"}, expect=200)
    try:
        box.fill("Book online at https://example.com/book")
        expect(page.locator("#composer-lint")).to_contain_text("Will not send")
        send.click()
        expect(page.locator("#composer-error")).to_contain_text("Not sent")
        expect(box).to_have_value("Book online at https://example.com/book")
    finally:
        office.clinic.call("PATCH", "/org", {"url_policy": "warn"}, expect=200)
    expect(page.locator("ol.thread > li.bubble")).to_have_count(0)

    # A send that reaches the server after the patient opted out is refused with the checks.
    office.clinic.post(
        f"/patients/{patient.id}/consent",
        {"action": "opt_out", "source": "staff", "evidence": "asked at the desk"},
        expect=201,
    )
    with session_client(server, page) as http:
        refused = http.post(
            f"/patients/{patient.id}/messages",
            data={"body": "One more thing", "channel": "clinic"},
            headers={"X-CSRF-Token": csrf_token(page), "HX-Request": "true"},
        )
    assert refused.status_code == 422
    assert "Not sent: this patient cannot be texted on the Clinic channel" in refused.text
    assert "One more thing</textarea>" in refused.text
    assert "The patient opted out" in refused.text
    assert office.clinic.get(f"/patients/{patient.id}/messages") == []
