"""The campaigns pages in a real browser: the wizard (audience, template, preview with every
skip reason, schedule), a campaign's live progress reaching its final counts through the
server's dispatcher and the carrier simulator, pause / resume / cancel, the per-recipient
report and its CSV, refusals next to their fields, and the pages without JavaScript."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, Page, expect

from clinictext.web.pages import campaigns_view as words
from tests.e2e.harness import Clinic, Patient, Server, fresh_phone
from tests.web.browser import WIDE, Staff, assert_accessible, screenshot, sign_in, signed_in_http

INVALID_AT_CARRIER = "+15005550001"  # the simulator answers 21211 (invalid number)
TEMPLATE_BODY = "Hi [FName], flu shots are in at [OfficeName]. Call us to book yours."
RECEIVE = ("Ann", "Ben", "Cleo", "Dev")
# Zones about six hours apart: one of them is always mid-day, inside any send window.
ZONES = ("America/Los_Angeles", "Europe/London", "Asia/Kolkata", "Asia/Tokyo")


def _daytime_zone() -> str:
    now = datetime.now(UTC)
    return next(z for z in ZONES if 9 <= now.astimezone(ZoneInfo(z)).hour <= 19)


def _patient(
    clinic: Clinic,
    first_name: str,
    *,
    level: str | None = "marketing",
    opted_out: bool = False,
    phone: str | None = None,
    timezone: str | None = None,
    external_id: str | None = None,
) -> Patient:
    body: dict[str, Any] = {
        "first_name": first_name,
        "last_name": "Test",
        "phone": phone or fresh_phone(),
        "timezone": timezone or _daytime_zone(),
    }
    if external_id:
        body["external_id"] = external_id
    data = clinic.post("/patients", body, expect=201).json()
    if level is not None:
        consent = {"action": "opt_in", "level": level, "source": "web_form", "evidence": "test"}
        clinic.post(f"/patients/{data['id']}/consent", consent, expect=201)
    if opted_out:
        stop = {"action": "opt_out", "source": "staff", "evidence": "asked at the desk"}
        clinic.post(f"/patients/{data['id']}/consent", stop, expect=201)
    return Patient(int(data["id"]), data["phone"])


def _template(
    clinic: Clinic,
    name: str = "Flu shots",
    body: str = TEMPLATE_BODY,
    variants: dict[str, str] | None = None,
) -> int:
    data: dict[str, Any] = {"name": name, "purpose": "campaign", "body": body}
    if variants:
        data["variants"] = variants
    return int(clinic.post("/templates", data, expect=201).json()["id"])


def _audience_of_eight(clinic: Clinic) -> dict[str, Any]:
    """Five who can receive a campaign (one invalid at the carrier) and three who cannot."""
    receive = [_patient(clinic, name) for name in RECEIVE]
    invalid = _patient(clinic, "Ivy", phone=INVALID_AT_CARRIER)
    care_only = _patient(clinic, "Carl", level="informational")
    never = _patient(clinic, "Nina", level=None)
    stopped = _patient(clinic, "Otto", opted_out=True)
    return {
        "receive": receive,
        "invalid": invalid,
        "not_opted_in": [care_only, never],
        "opted_out": stopped,
    }


def _open_wizard(page: Page, server: Server, staff: Staff) -> None:
    sign_in(page, server.base, staff.email, staff.password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    expect(page).to_have_url(re.compile(r"/campaigns$"))
    expect(page.get_by_role("heading", name="Campaigns", exact=True)).to_be_visible()
    page.get_by_role("link", name="New campaign").click()
    expect(page.get_by_role("heading", name="Who receives it")).to_be_visible()


def _choose_template(page: Page, name: str = "Flu shots") -> None:
    page.get_by_role("button", name="Next: template").click()
    expect(page.get_by_role("heading", name="What it says")).to_be_visible()
    page.get_by_role("radio", name=name).check()
    page.get_by_role("button", name="Next: preview").click()
    expect(page.get_by_role("heading", name="Who gets it, and who is skipped")).to_be_visible()


def _count(page: Page, key: str) -> Any:
    return page.locator(f"#count-{key} .n")


def _expect_no_campaign(page: Page, server: Server) -> None:
    """Nothing was saved: the list, read in another tab, has no campaign."""
    other = page.context.new_page()
    other.goto(server.base + "/campaigns")
    expect(other.get_by_text("No campaigns yet.")).to_be_visible()
    other.close()


def _campaign_id(page: Page) -> int:
    match = re.search(r"/campaigns/(\d+)", page.url)
    assert match, page.url
    return int(match.group(1))


def test_a_campaign_built_in_the_wizard_reports_who_got_it_and_why_the_others_did_not(
    server: Server, page: Page, staff: Staff, tmp_path: Path
) -> None:
    clinic = staff.clinic
    people = _audience_of_eight(clinic)
    _template(clinic)
    _template(
        clinic,
        "Office news",
        "Our office has new hours. Reply STOP to opt out.",
        {"es": "Nuevo horario en la oficina. Responda STOP para cancelar."},
    )

    _open_wizard(page, server, staff)
    steps = page.get_by_role("navigation", name="Steps of the new campaign")
    expect(steps.locator("[aria-current=step]")).to_have_text("Audience")
    expect(page.get_by_role("radio", name="All patients")).to_be_checked()
    screenshot(page, "campaign-wizard-audience")
    assert_accessible(page)

    # Step 2: each template with its text, fields, encoding, segments and what is added.
    page.get_by_role("button", name="Next: template").click()
    expect(steps.locator("[aria-current=step]")).to_have_text("Template")
    flu = page.locator(".template-option").filter(has=page.get_by_role("radio", name="Flu shots"))
    expect(flu).to_contain_text(TEMPLATE_BODY)
    expect(flu).to_contain_text("Fields: [FName], [OfficeName]")
    expect(flu).to_contain_text("Encoding: GSM-7")
    expect(flu).to_contain_text(re.compile(r"Up to \d segments? once filled"))
    expect(flu).to_contain_text("“Reply STOP to opt out.” will be added at the end")
    news = page.locator(".template-option").filter(
        has=page.get_by_role("radio", name="Office news")
    )
    expect(news).to_contain_text("will be added at the start")
    expect(news).not_to_contain_text("will be added at the end")
    expect(news).to_contain_text("Also written in Spanish")
    expect(flu).not_to_contain_text("Also written in")
    screenshot(page, "campaign-wizard-template")
    assert_accessible(page)

    # Going on without a template is refused next to the field.
    page.get_by_role("button", name="Next: preview").click()
    expect(page.get_by_text("Choose the template the campaign sends.")).to_be_visible()
    page.get_by_role("radio", name="Flu shots").check()
    page.get_by_role("button", name="Next: preview").click()

    # Step 3: the preview, the reasons in words, and every skipped patient's checks.
    expect(page.get_by_role("status").first).to_contain_text(
        "5 patients will receive it; 3 are skipped."
    )
    reasons = page.get_by_role("region", name="Why patients are skipped")
    expect(reasons.get_by_role("listitem")).to_have_text(
        ["Not opted in to marketing texts: 2", "Opted out: 1"]
    )
    skipped = page.get_by_role("table", name="Skipped patients and every check they fail")
    expect(skipped.get_by_role("row")).to_have_count(4)  # the header and three patients
    otto = skipped.get_by_role("row").filter(has_text="Otto Test")
    expect(otto).to_contain_text("Opted out: The patient opted out")
    expect(otto.get_by_role("link", name="Otto Test")).to_have_attribute(
        "href", f"/patients/{people['opted_out'].id}"
    )
    expect(skipped.get_by_role("row").filter(has_text="Carl Test")).to_contain_text(
        "campaigns need marketing consent"
    )
    expect(skipped.get_by_role("row").filter(has_text="Nina Test")).to_contain_text(
        "has not opted in"
    )
    screenshot(page, "campaign-wizard-preview")
    assert_accessible(page)

    # Step 4: a name is needed; what was typed stays.
    page.get_by_role("button", name="Next: schedule").click()
    expect(page.get_by_role("heading", name="When it goes, and its name")).to_be_visible()
    expect(page.get_by_role("radio", name="Send now")).to_be_checked()
    expect(page.get_by_role("radio", name="Lead number")).to_be_checked()
    page.get_by_role("button", name="Start campaign").click()
    name = page.get_by_role("textbox", name="Name", exact=True)
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#campaign-name-error")).to_contain_text("A campaign needs a name")
    _expect_no_campaign(page, server)
    name.fill("Flu shots, October")
    screenshot(page, "campaign-wizard-schedule")
    assert_accessible(page)
    page.get_by_role("button", name="Start campaign").click()

    # The campaign's page: progress reaches its final counts by itself.
    expect(page).to_have_url(re.compile(r"/campaigns/\d+\?done=started$"))
    campaign_id = _campaign_id(page)
    expect(page.get_by_role("heading", name="Flu shots, October")).to_be_visible()
    expect(page.locator("#campaign-result")).to_contain_text("Started.")
    expect(_count(page, "skipped")).to_have_text("3")
    expect(_count(page, "delivered")).to_have_text("4", timeout=60_000)
    expect(_count(page, "failed")).to_have_text("1", timeout=30_000)
    expect(page.locator("#campaign-status")).to_contain_text("Done")
    expect(page.locator("#campaign-progress-summary")).to_contain_text(
        "5 of 5 texts finished (delivered, failed or canceled)"
    )
    expect(page.get_by_role("region", name="Actions")).to_contain_text("This campaign has finished")
    expect(page.locator("#campaign-progress")).not_to_have_attribute("hx-trigger", re.compile("."))
    screenshot(page, "campaign-done")
    assert_accessible(page)

    # The report followed the progress by itself: every recipient with their text's status.
    report = page.get_by_role("region", name="Recipients")
    expect(report.get_by_role("row")).to_have_count(9)
    for name in RECEIVE:
        expect(report.get_by_role("row").filter(has_text=f"{name} Test")).to_contain_text(
            "Delivered"
        )
    page.get_by_label("Show").select_option("failed")
    page.get_by_role("button", name="Show").click()
    rows = report.get_by_role("row")
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("Ivy Test")
    expect(rows.nth(1)).to_contain_text("Failed")
    expect(rows.nth(1)).to_contain_text("21211")
    page.get_by_label("Show").select_option("skipped")
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(4)
    expect(rows.filter(has_text="Otto Test")).to_contain_text("No marketing consent")

    # The CSV: one row a patient of the audience, with each one's status and reason.
    with page.expect_download() as download:
        report.get_by_role("link", name="Download CSV").click()
    saved = tmp_path / "report.csv"
    download.value.save_as(saved)
    table = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    by_patient = {int(r["patient_id"]): r for r in table}
    assert len(table) == 8, table
    for p in people["receive"]:
        assert by_patient[p.id]["status"] == "delivered", by_patient[p.id]
    assert by_patient[people["invalid"].id]["status"] == "failed"
    assert by_patient[people["invalid"].id]["error_code"] == "21211"
    assert by_patient[people["opted_out"].id]["skip_reason"] == "consent"
    for p in people["not_opted_in"]:
        assert by_patient[p.id]["status"] == "skipped"

    # The list shows it, with its status as a word and its progress.
    page.get_by_role("link", name="All campaigns").click()
    row = page.get_by_role("row").filter(has_text="Flu shots, October")
    expect(row).to_contain_text("Done")
    expect(row).to_contain_text("5 texts: 4 delivered, 1 failed; 3 skipped")
    expect(row.get_by_role("link", name="Flu shots, October")).to_have_attribute(
        "href", f"/campaigns/{campaign_id}"
    )
    screenshot(page, "campaigns-list")
    assert_accessible(page)


def _tomorrow_in(clinic: Clinic) -> str:
    zone = ZoneInfo(clinic.get("/org")["timezone"])
    return (datetime.now(zone) + timedelta(days=1)).date().isoformat()


def test_a_scheduled_campaign_is_paused_resumed_and_canceled_after_a_confirmation(
    server: Server, page: Page, staff: Staff
) -> None:
    clinic = staff.clinic
    people = [_patient(clinic, name) for name in ("Ana", "Bo", "Cy")]
    _template(clinic)

    _open_wizard(page, server, staff)
    _choose_template(page)
    expect(page.get_by_role("status").first).to_contain_text("3 patients will receive it")
    page.get_by_role("button", name="Next: schedule").click()
    page.get_by_role("radio", name="At a date and time").check()
    page.get_by_label("Date", exact=True).fill(_tomorrow_in(clinic))
    page.get_by_label("Time", exact=True).fill("10:30")
    page.get_by_role("textbox", name="Name", exact=True).fill("Spring offer")
    page.get_by_role("button", name="Start campaign").click()

    expect(page.locator("#campaign-status")).to_contain_text("Scheduled")
    facts = page.get_by_role("region", name="About this campaign")
    expect(facts).to_contain_text(re.compile(r"Send time\s*\w+ \d+, \d{4}, 10:30 AM"))
    expect(_count(page, "scheduled")).to_have_text("3")
    actions = page.get_by_role("region", name="Actions")
    expect(actions.get_by_role("button")).to_have_text(["Pause", "Cancel campaign"])

    actions.get_by_role("button", name="Pause").click()
    expect(page.locator("#campaign-result")).to_contain_text("Paused.")
    expect(page.locator("#campaign-status")).to_contain_text("Paused")
    expect(actions.get_by_role("button")).to_have_text(["Resume", "Cancel campaign"])
    page.reload()  # what the page said is what was saved
    expect(page.locator("#campaign-status")).to_contain_text("Paused")

    actions.get_by_role("button", name="Resume").click()
    expect(page.locator("#campaign-result")).to_contain_text("Resumed.")
    expect(page.locator("#campaign-status")).to_contain_text("Scheduled")
    expect(_count(page, "scheduled")).to_have_text("3")

    # Cancel asks first; "No, keep it" changes nothing.
    actions.get_by_role("button", name="Cancel campaign").click()
    confirm = actions.get_by_role("alert")
    expect(confirm).to_contain_text(
        "Cancel “Spring offer”? 3 texts not yet handed to the provider will be canceled"
    )
    screenshot(page, "campaign-cancel-confirm")
    assert_accessible(page)
    actions.get_by_role("link", name="No, keep it").click()
    expect(actions.get_by_role("button")).to_have_text(["Pause", "Cancel campaign"])
    expect(page.locator("#campaign-status")).to_contain_text("Scheduled")

    actions.get_by_role("button", name="Cancel campaign").click()
    actions.get_by_role("button", name="Yes, cancel the campaign").click()
    expect(page.locator("#campaign-result")).to_contain_text("Canceled.")
    expect(page.locator("#campaign-status")).to_contain_text("Canceled")
    expect(_count(page, "canceled")).to_have_text("3")
    expect(_count(page, "scheduled")).to_have_text("0")
    expect(actions).to_contain_text("This campaign was canceled")
    expect(page.get_by_role("region", name="Recipients").get_by_role("row")).to_have_count(4)
    report = page.get_by_role("region", name="Recipients")
    for row in report.get_by_role("row").all()[1:]:
        expect(row).to_contain_text("Canceled")
    assert all(not server.carrier_messages(to=p.phone) for p in people)
    screenshot(page, "campaign-canceled")
    assert_accessible(page)


def test_the_audience_step_refuses_next_to_its_field_and_reports_csv_lines_that_match_no_one(
    server: Server, page: Page, staff: Staff, tmp_path: Path
) -> None:
    clinic = staff.clinic
    ann = _patient(clinic, "Ann", external_id="A-100")
    ben = _patient(clinic, "Ben", external_id="B-200")
    _patient(clinic, "Cleo")
    _template(clinic)
    _open_wizard(page, server, staff)

    # Lead stages without a stage.
    page.get_by_role("radio", name="Patients whose lead is in these stages").check()
    page.get_by_role("button", name="Next: template").click()
    stages = page.get_by_role("group", name="Lead stages")
    expect(stages).to_have_attribute("aria-invalid", "true")
    expect(stages).to_contain_text("Tick at least one lead stage, or choose All patients.")
    expect(page.get_by_role("radio", name="Patients whose lead is in these stages")).to_be_checked()

    # A stage nobody is in: the preview says there is no one, back on the audience step.
    page.get_by_role("checkbox", name="Closed lost").check()
    _choose_template_after_audience(page)
    page.get_by_role("button", name="Next: preview").click()
    expect(page.get_by_role("heading", name="Who receives it")).to_be_visible()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.locator("#who-error")).to_contain_text("No patient matches this audience")
    expect(page.get_by_role("checkbox", name="Closed lost")).to_be_checked()

    # A CSV of external ids: two match, two lines do not; each is reported by its line.
    upload = tmp_path / "audience.csv"
    upload.write_text("external_id,note\nA-100,x\nB-200,y\nZ-999,z\n,empty\n", encoding="utf-8")
    page.get_by_role("radio", name="Patients listed in a CSV file").check()
    page.get_by_label("CSV file of patients").set_input_files(str(upload))
    page.get_by_role("button", name="Next: template").click()
    report = page.locator("#audience-csv-report")
    expect(report).to_contain_text("audience.csv: 2 patients found by external_id; 2 lines match")
    expect(report.get_by_role("listitem")).to_have_text(
        [
            "Line 4: No patient of the organization has the external_id 'Z-999'.",
            "Line 5: The external_id is empty.",
        ]
    )
    expect(page.get_by_label("CSV file of patients")).to_have_attribute(
        "aria-describedby", re.compile("audience-csv-report")
    )
    screenshot(page, "campaign-wizard-csv-report")
    assert_accessible(page)

    # Going on takes the two patients found.
    _choose_template_after_audience(page)
    expect(page.locator(".audience-summary")).to_contain_text("2 patients listed from audience.csv")
    page.get_by_role("button", name="Next: preview").click()
    expect(page.get_by_role("status").first).to_contain_text(
        "2 patients will receive it; nobody is skipped."
    )
    # Back twice keeps every answer: the file's patients and the template.
    page.get_by_role("button", name="Back").click()
    expect(page.get_by_role("radio", name="Flu shots")).to_be_checked()
    page.get_by_role("button", name="Back").click()
    expect(page.get_by_role("radio", name="Patients listed in a CSV file")).to_be_checked()
    expect(page.locator("#audience-csv-hint")).to_contain_text("Now: 2 patients from audience.csv")
    del ann, ben


def _choose_template_after_audience(page: Page) -> None:
    page.get_by_role("button", name="Next: template").click()
    expect(page.get_by_role("heading", name="What it says")).to_be_visible()
    page.get_by_role("radio", name="Flu shots").check()


def test_without_javascript_a_draft_is_saved_started_and_canceled_with_plain_forms(
    server: Server, browser: Browser, staff: Staff
) -> None:
    clinic = staff.clinic
    _patient(clinic, "Ann")
    _patient(clinic, "Nina", level=None)
    _template(clinic)
    context = browser.new_context(viewport=WIDE, java_script_enabled=False)
    try:
        page = context.new_page()
        _open_wizard(page, server, staff)
        _choose_template(page)
        page.get_by_role("button", name="Next: schedule").click()
        page.get_by_role("radio", name="At a date and time").check()
        page.get_by_label("Date", exact=True).fill(_tomorrow_in(clinic))
        page.get_by_label("Time", exact=True).fill("09:00")
        page.get_by_role("textbox", name="Name", exact=True).fill("Checkup reminder")
        page.get_by_role("button", name="Save as draft").click()

        # A draft: its preview, and Start.
        expect(page.locator("#campaign-result")).to_contain_text("Saved as a draft.")
        expect(page.locator("#campaign-status")).to_contain_text("Draft")
        preview = page.get_by_role("region", name="Preview")
        expect(preview).to_contain_text("1 patient will receive it; 1 is skipped.")
        expect(preview).to_contain_text("Not opted in to marketing texts: 1")
        screenshot(page, "campaign-draft")
        actions = page.get_by_role("region", name="Actions")
        expect(actions.get_by_role("button")).to_have_text(["Start campaign", "Cancel campaign"])
        actions.get_by_role("button", name="Start campaign").click()
        expect(page.locator("#campaign-result")).to_contain_text("Started.")
        expect(page.locator("#campaign-status")).to_contain_text("Scheduled")
        expect(_count(page, "scheduled")).to_have_text("1")

        # Cancel: a confirmation page, then canceled.
        actions.get_by_role("button", name="Cancel campaign").click()
        expect(actions.get_by_role("alert")).to_contain_text("Cancel “Checkup reminder”?")
        actions.get_by_role("button", name="Yes, cancel the campaign").click()
        expect(page.locator("#campaign-result")).to_contain_text("Canceled.")
        expect(page.locator("#campaign-status")).to_contain_text("Canceled")
        expect(_count(page, "canceled")).to_have_text("1")
    finally:
        context.close()


def _rows(page_html: str) -> int:
    body = page_html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return body.count("<tr>")


def test_the_skipped_patients_and_the_report_come_fifty_at_a_time(
    server: Server, staff: Staff
) -> None:
    clinic = staff.clinic
    _patient(clinic, "Ann")
    for n in range(55):
        _patient(clinic, f"Nobody{n:02d}", level=None)
    template_id = _template(clinic)
    http = signed_in_http(server.base, staff.email, staff.password)
    try:
        form = http.get("/campaigns/new")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token, form.text
        answers = {
            "csrf_token": token.group(1),
            "step": "template",
            "who": "all",
            "template_id": str(template_id),
        }
        first = http.post("/campaigns/new", data={**answers, "go": "preview"})
        assert first.status_code == 200, first.text
        assert "1 patient will receive it</strong>; 55 are skipped." in first.text
        assert "Not opted in to marketing texts: 55" in first.text
        assert _rows(first.text) == 50
        more = re.search(r'name="skipped_after" value="(\d+)">Next 50 skipped patients', first.text)
        assert more, first.text
        rest = http.post(
            "/campaigns/new", data={**answers, "step": "preview", "skipped_after": more.group(1)}
        )
        assert _rows(rest.text) == 5
        assert "First skipped patients" in rest.text
        assert "Next 50 skipped patients" not in rest.text

        started = http.post(
            "/campaigns/new",
            data={**answers, "step": "schedule", "go": "start", "name": "Fifty at a time"},
        )
        assert started.status_code == 303, started.text
        campaign = http.get(started.headers["location"])
        assert _rows(campaign.text) == 50
        link = re.search(r'hx-get="(/campaigns/\d+/report\?cursor=\d+)"', campaign.text)
        assert link, campaign.text
        page_two = http.get(link.group(1))
        assert page_two.status_code == 200
        assert _rows(page_two.text) == 6
        assert "First page" in page_two.text
    finally:
        http.close()


def test_progress_counts_become_numbers_a_full_bar_and_one_line() -> None:
    counts = {
        "recipients": 1204,
        "skipped": 96,
        "delivered": 1000,
        "sent": 100,
        "sending": 4,
        "queued": 50,
        "scheduled": 40,
        "failed": 10,
        "canceled": 0,
    }
    running = words.progress("running", counts)
    assert [(i.key, i.count) for i in running.items] == [
        ("delivered", 1000),
        ("sent", 104),
        ("queued", 50),
        ("scheduled", 40),
        ("failed", 10),
        ("canceled", 0),
        ("skipped", 96),
    ]
    assert running.segments[0].x == 0
    pairs = zip(running.segments, running.segments[1:], strict=False)
    assert all(a.x + a.width == b.x for a, b in pairs)
    assert running.segments[-1].x + running.segments[-1].width == words.BAR_UNITS
    assert running.live
    assert words.progress_line(counts) == (
        "1,204 texts: 1,000 delivered, 104 sent, 90 waiting, 10 failed; 96 skipped"
    )
    ended = {**counts, "sent": 0, "sending": 0, "queued": 0, "scheduled": 0, "canceled": 194}
    assert not words.progress("canceled", ended).live
    assert words.progress("canceled", ended).seen != running.seen


def test_an_audience_is_said_in_words() -> None:
    assert words.audience_words({"all": True}) == "All patients"
    assert (
        words.audience_words({"lead_stages": ["open", "in_progress"], "language": "es"})
        == "Patients whose lead is Open or In progress, whose language is Spanish"
    )
    assert (
        words.audience_words({"patient_ids": [1, 2, 3]}, "list.csv")
        == "3 patients listed from list.csv"
    )
