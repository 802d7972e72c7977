"""The appointments page in a real browser: a day of appointments in the clinic's time,
booking one through the page, moving and canceling it (its unsent texts canceled with it),
refusals next to their field with nothing written, each text's state in words, the patient
page's Appointments section, and the page without JavaScript."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, Page, expect

from clinictext.store.models import Appointment
from clinictext.web.pages import appointments_forms as forms
from clinictext.web.pages import appointments_view as view
from tests.e2e.harness import Clinic, Number, Server, fresh_phone, fresh_sender, wait_until
from tests.web.browser import WIDE, Staff, assert_accessible, screenshot, sign_in

# Zones where a text may go out now: the send window (08:00-21:00) is open in one of them.
ZONES = (
    "Pacific/Honolulu",
    "America/Los_Angeles",
    "America/New_York",
    "Atlantic/Azores",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
)


def _clinic_zone(clinic: Clinic) -> ZoneInfo:
    return ZoneInfo(clinic.get("/org")["timezone"])


def _tomorrow(clinic: Clinic) -> date:
    return datetime.now(_clinic_zone(clinic)).date() + timedelta(days=1)


def _at(clinic: Clinic, day: date, hour: int, minute: int = 0) -> str:
    """An ISO start at a wall time of the clinic's time zone."""
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=_clinic_zone(clinic))
    return local.isoformat()


def _zone_in_window() -> str:
    """A time zone where it is now between 09:00 and 19:59, well inside the send window."""
    now = datetime.now(UTC)
    return next(z for z in ZONES if 9 <= now.astimezone(ZoneInfo(z)).hour < 20)


def _patient(
    clinic: Clinic, first: str, last: str, *, consent: bool = True, timezone: str | None = None
) -> int:
    body: dict[str, Any] = {"first_name": first, "last_name": last, "phone": fresh_phone()}
    if timezone:
        body["timezone"] = timezone
    data = clinic.post("/patients", body, expect=201).json()
    if consent:
        clinic.post(
            f"/patients/{data['id']}/consent",
            {"action": "opt_in", "level": "informational", "source": "web_form", "evidence": "t"},
            expect=201,
        )
    return int(data["id"])


def _rule(clinic: Clinic, purpose: str, minutes_before: int, margin: int = 30) -> int:
    body = (
        "Hi [FName], reply C to confirm your visit on [ApptDate] at [ApptTime]. Code "
        "[ConfirmCode]. [OfficeName]"
        if purpose == "confirmation"
        else "Hi [FName], see you on [ApptDate] at [ApptTime]. [OfficeName]"
    )
    template = clinic.post(
        "/templates", {"name": f"{purpose} text", "purpose": purpose, "body": body}, expect=201
    ).json()
    rule = clinic.post(
        "/rules",
        {
            "name": f"{purpose.capitalize()} {minutes_before // 60} h before",
            "purpose": purpose,
            "minutes_before": minutes_before,
            "do_not_send_within_minutes": margin,
            "template_id": template["id"],
            "enabled": True,
        },
        expect=201,
    ).json()
    return int(rule["id"])


def _book(clinic: Clinic, patient_id: int, starts_at: str, **extra: Any) -> dict[str, Any]:
    body = {"patient_id": patient_id, "starts_at": starts_at, **extra}
    data: dict[str, Any] = clinic.post("/appointments", body, expect=201).json()
    return data


def _appointments(clinic: Clinic, patient_id: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = clinic.get("/appointments", patient_id=patient_id)
    return rows


def _open_day(page: Page, server: Server, staff: Staff, day: date | None = None) -> None:
    sign_in(page, server.base, staff.email, staff.password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Appointments").click()
    expect(page).to_have_url(re.compile(r"/appointments$"))
    expect(page.get_by_role("heading", name="Appointments", exact=True)).to_be_visible()
    if day is not None:
        page.get_by_label("Day", exact=True).fill(day.isoformat())
        page.get_by_role("button", name="Show day").click()
        expect(page).to_have_url(re.compile(rf"day={day.isoformat()}"))


def _item(page: Page, name: str) -> Any:
    return (
        page.get_by_role("list", name="Appointments, by start time")
        .get_by_role("listitem")
        .filter(has=page.get_by_role("link", name=name))
    )


def _title(day: date) -> str:
    return f"{day:%A, %B} {day.day}, {day.year}"


# --- what the page reads and says, as plain values --------------------------------------------

NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("typed", "expected"),
    [("15:30", "15:30"), ("9:05", "09:05"), ("3:30 PM", "15:30"), ("3 pm", "15:00"),
     ("12:00 AM", "00:00"), ("3:30 p.m.", "15:30"), ("15:30:00", "15:30"), ("25:00", None),
     ("9", None), ("13 pm", None), ("3:60", None), ("half past three", None)],
)  # fmt: skip
def test_a_time_is_read_as_staff_type_it(typed: str, expected: str | None) -> None:
    read = forms.read_clock(typed)
    assert (read.strftime("%H:%M") if read else None) == expected


def test_a_day_is_read_as_yyyy_mm_dd_and_anything_else_says_how_to_write_it() -> None:
    assert forms.read_day("2026-12-01") == date(2026, 12, 1)
    assert forms.read_day("2026-13-45") == (
        "'2026-13-45' is not a day: enter it as YYYY-MM-DD, e.g. 2026-12-01."
    )
    assert forms.read_day("12/01/2026") == (
        "'12/01/2026' is not a day: enter it as YYYY-MM-DD, e.g. 2026-12-01."
    )
    assert forms.read_day("1066-10-14") == "Enter a day between the years 2000 and 2999."


def test_a_start_is_read_in_the_clinic_zone_and_each_problem_names_its_field() -> None:
    start = forms.read_start("2026-12-01", "3:30 PM", NEW_YORK)
    assert start == datetime(2026, 12, 1, 20, 30, tzinfo=UTC)
    assert forms.read_start("", "", NEW_YORK) == {
        "date": "Choose the appointment's date, e.g. 2026-12-01.",
        "time": "Choose the start time, e.g. 15:30.",
    }
    assert set(forms.read_start("tomorrow", "noon", NEW_YORK)) == {"date", "time"}
    # 02:30 does not exist in New York the night the clocks go forward.
    gap = forms.read_start("2026-03-08", "02:30", NEW_YORK)
    assert isinstance(gap, dict) and "does not exist in America/New_York" in gap["time"]


def test_a_clinic_day_runs_from_its_midnight_to_the_next_even_when_the_clocks_change() -> None:
    start, end = view.day_bounds(date(2026, 11, 1), NEW_YORK)
    assert start == datetime(2026, 11, 1, 4, tzinfo=UTC)
    assert end - start == timedelta(hours=25)


def test_a_refused_start_is_shown_at_the_time_on_today_and_at_the_date_otherwise() -> None:
    now = datetime(2026, 12, 1, 15, tzinfo=UTC)
    assert forms.start_field("2026-12-01", NEW_YORK, now) == "time"
    assert forms.start_field("2026-11-30", NEW_YORK, now) == "date"


@pytest.mark.parametrize(
    ("text", "words", "label"),
    [
        ({"state": "planned", "due_at": "2026-12-01T14:00:00Z"}, "planned for 9:00 AM", None),
        (
            {"state": "planned", "due_at": "2026-11-30T14:00:00Z"},
            "planned for Mon, Nov 30 at 9:00 AM",
            None,
        ),
        (
            {"state": "skipped", "reason": "The patient has not opted in."},
            "skipped: The patient has not opted in.",
            None,
        ),
        (
            {"state": "canceled", "reason": "The appointment was canceled."},
            "canceled: The appointment was canceled.",
            None,
        ),
        (
            {"state": "queued", "message_id": 7, "message_status": "delivered",
             "sent_at": "2026-12-01T14:02:00Z"},
            "sent 9:02 AM",
            "Delivered",
        ),
        (
            {"state": "queued", "message_id": 7, "message_status": "scheduled",
             "due_at": "2026-12-01T12:00:00Z"},
            "waiting for the send window (due 7:00 AM)",
            "Pending",
        ),
        ({"state": "queued", "message_id": 7, "message_status": "failed"}, "not sent", "Failed"),
        (
            {"state": "canceled", "message_id": 7, "message_status": "canceled",
             "reason": "The appointment was canceled."},
            "canceled: The appointment was canceled.",
            "Canceled",
        ),
    ],
)  # fmt: skip
def test_each_text_state_is_said_in_words(
    text: dict[str, Any], words: str, label: str | None
) -> None:
    line = view.text_line(
        {"purpose": "reminder", "rule_name": "Day before", **text}, NEW_YORK, date(2026, 12, 1)
    )
    assert (line.purpose, line.rule_name, line.words, line.label) == (
        "Reminder",
        "Day before",
        words,
        label,
    )


def test_an_appointment_offers_only_the_actions_its_state_allows() -> None:
    now = datetime(2026, 12, 1, 15, tzinfo=UTC)
    ahead, past = now + timedelta(hours=2), now - timedelta(hours=2)

    def actions(status: str, starts_at: datetime) -> set[str]:
        return set(view.allowed_actions(Appointment(status=status, starts_at=starts_at), now))

    assert actions("scheduled", ahead) == {"confirmed", "canceled", "move"}
    assert actions("confirmed", ahead) == {"canceled", "move"}
    assert actions("scheduled", past) == {"canceled", "completed", "no_show"}
    assert actions("completed", past) == {"no_show"}
    assert actions("canceled", ahead) == set()


# --- the page ---------------------------------------------------------------------------------


def test_staff_book_an_appointment_for_tomorrow_and_see_it_with_its_code_and_texts(
    server: Server, page: Page, staff: Staff
) -> None:
    clinic = staff.clinic
    _rule(clinic, "reminder", 24 * 60)
    _rule(clinic, "confirmation", 48 * 60 + 24 * 60)
    patient_id = _patient(clinic, "Rosa", "Vale")
    tomorrow = _tomorrow(clinic)

    _open_day(page, server, staff)
    today = tomorrow - timedelta(days=1)
    expect(page.get_by_role("heading", level=2, name=f"Today, {_title(today)}")).to_be_visible()
    expect(page.get_by_text("No appointments on this day.")).to_be_visible()

    book = page.get_by_role("region", name="Book an appointment")
    # Typing part of a name suggests the patients it matches, by name and number.
    book.get_by_label("Patient").fill("rosa")
    suggestion = page.locator("#book-patient-options option")
    expect(suggestion).to_have_attribute("value", f"Rosa Vale (#{patient_id})")
    book.get_by_label("Patient").fill(f"Rosa Vale (#{patient_id})")
    book.get_by_label("Date").fill(tomorrow.isoformat())
    book.get_by_label("Time").fill("15:30")
    expect(book.get_by_label("Time")).to_have_accessible_description(
        re.compile(r"In the clinic's time zone \(America/New_York\)")
    )
    book.get_by_label("Provider").fill("Dr. Lee")
    book.get_by_role("button", name="Book appointment").click()

    [booked] = wait_until(lambda: _appointments(clinic, patient_id), 10, "the booking")
    code = booked["confirm_code"]
    assert booked["status"] == "scheduled" and booked["provider"] == "Dr. Lee"
    assert datetime.fromisoformat(booked["starts_at"]) == datetime.fromisoformat(
        _at(clinic, tomorrow, 15, 30)
    )
    day = page.get_by_role("region", name=re.compile(r"^Tomorrow, "))
    expect(day.get_by_role("status")).to_contain_text(
        f"Booked Rosa Vale for {tomorrow:%a, %b} {tomorrow.day} at 3:30 PM. Confirm code: {code}."
    )
    expect(page).to_have_url(re.compile(rf"/appointments\?day={tomorrow.isoformat()}$"))
    item = _item(page, "Rosa Vale")
    expect(item).to_contain_text("3:30 PM")
    expect(item).to_contain_text("Scheduled")
    expect(item).to_contain_text(f"Confirm code {code}")
    expect(item).to_contain_text("Provider: Dr. Lee")
    # The reminder is planned a day ahead; the confirmation, three days ahead, is due at once
    # and goes out or is skipped: either way its state is shown in words.
    expect(item.get_by_role("list", name=re.compile("Texts for Rosa Vale"))).to_contain_text(
        f"Reminder (Reminder 24 h before) — planned for {today:%a, %b} {today.day} at 3:30 PM"
    )
    expect(item).to_contain_text("Confirmation (Confirmation 72 h before) —")
    # The booking form is empty again, ready for the next one.
    expect(book.get_by_label("Patient")).to_have_value("")
    assert_accessible(page)
    screenshot(page, "appointments-day")

    # The patient link opens the patient page.
    item.get_by_role("link", name="Rosa Vale").click()
    expect(page).to_have_url(re.compile(rf"/patients/{patient_id}$"))


def test_moving_an_appointment_replans_its_texts_and_canceling_cancels_them(
    server: Server, page: Page, staff: Staff
) -> None:
    clinic = staff.clinic
    rule_id = _rule(clinic, "reminder", 2 * 60)
    patient_id = _patient(clinic, "Milo", "Baptiste")
    tomorrow = _tomorrow(clinic)
    booked = _book(clinic, patient_id, _at(clinic, tomorrow, 10), provider="Dr. Okafor")

    _open_day(page, server, staff, tomorrow)
    item = _item(page, "Milo Baptiste")
    expect(item).to_contain_text("10:00 AM")
    expect(item).to_contain_text("Reminder (Reminder 2 h before) — planned for 8:00 AM")

    item.get_by_role("link", name="Move").click()
    panel = page.get_by_role("region", name="Move Milo Baptiste's appointment")
    expect(panel).to_contain_text(f"Now {tomorrow:%a, %b} {tomorrow.day} at 10:00 AM.")
    expect(panel.get_by_label("New date")).to_be_focused()
    expect(panel.get_by_label("New date")).to_have_value(tomorrow.isoformat())
    expect(panel.get_by_label("New time")).to_have_value("10:00")
    panel.get_by_label("New time").fill("11:15")
    panel.get_by_role("button", name="Move appointment").click()

    expect(page.get_by_role("status")).to_contain_text(
        f"Moved Milo Baptiste's appointment to {tomorrow:%a, %b} {tomorrow.day} at 11:15 AM."
    )
    expect(panel).to_have_count(0)
    expect(item).to_contain_text("11:15 AM")
    expect(item).to_contain_text("Reminder (Reminder 2 h before) — planned for 9:15 AM")
    moved = clinic.get(f"/appointments/{booked['id']}")
    assert datetime.fromisoformat(moved["starts_at"]) == datetime.fromisoformat(
        _at(clinic, tomorrow, 11, 15)
    )
    assert moved["confirm_code"] == booked["confirm_code"]

    item.get_by_text("Cancel…").click()
    item.get_by_role("button", name="Cancel appointment").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Milo Baptiste's appointment on "
        f"{tomorrow:%a, %b} {tomorrow.day} at 11:15 AM is canceled. "
        "Its texts that were not sent yet are canceled."
    )
    expect(item).to_contain_text("Canceled")
    expect(item).to_contain_text(
        "Reminder (Reminder 2 h before) — canceled: The appointment was canceled."
    )
    # A canceled appointment offers nothing more to do.
    expect(item.get_by_role("button")).to_have_count(0)
    expect(item.get_by_role("link", name="Move")).to_have_count(0)
    canceled = clinic.get(f"/appointments/{booked['id']}")
    assert canceled["status"] == "canceled"
    [text] = [t for t in canceled["texts"] if t["rule_id"] == rule_id]
    assert text["state"] == "canceled" and text["message_id"] is None
    assert_accessible(page)
    screenshot(page, "appointments-canceled")


def test_a_time_in_the_past_is_refused_next_to_its_field_keeping_what_was_typed(
    server: Server, page: Page, staff: Staff
) -> None:
    clinic = staff.clinic
    patient_id = _patient(clinic, "Ines", "Carvalho")
    yesterday = _tomorrow(clinic) - timedelta(days=2)
    _open_day(page, server, staff)
    book = page.get_by_role("region", name="Book an appointment")
    patient, day, time = (book.get_by_label(n) for n in ("Patient", "Date", "Time"))
    patient.fill(f"#{patient_id}")
    day.fill(yesterday.isoformat())
    time.fill("09:00")
    book.get_by_role("button", name="Book appointment").click()

    expect(day).to_have_accessible_description(
        re.compile(r"is in the past: book the appointment for a time still ahead")
    )
    expect(day).to_have_attribute("aria-invalid", "true")
    expect(book.get_by_role("alert")).to_contain_text("Nothing was saved.")
    expect(patient).to_have_value(f"#{patient_id}")
    expect(day).to_have_value(yesterday.isoformat())
    expect(time).to_have_value("09:00")
    assert _appointments(clinic, patient_id) == []
    assert_accessible(page)
    screenshot(page, "appointments-refused")

    # A patient who does not exist and a time that is not one: each next to its field.
    patient.fill("Nobody Atall")
    day.fill(_tomorrow(clinic).isoformat())
    time.fill("")
    book.get_by_role("button", name="Book appointment").click()
    expect(patient).to_have_accessible_description(
        re.compile(r"No patient is called 'Nobody Atall': check the spelling")
    )
    expect(time).to_have_accessible_description(re.compile(r"Choose the start time"))
    expect(day).not_to_have_attribute("aria-invalid", "true")
    assert _appointments(clinic, patient_id) == []

    # A day that is not one, in the address, is refused next to the day field.
    answer = page.goto(server.base + "/appointments?day=2026-13-45")
    assert answer is not None and answer.status == 422
    expect(page.get_by_label("Day", exact=True)).to_have_accessible_description(
        re.compile(r"'2026-13-45' is not a day: enter it as YYYY-MM-DD")
    )


def test_each_text_says_what_became_of_it_sent_or_skipped_with_the_reason(
    server: Server, page: Page, staff: Staff
) -> None:
    clinic = staff.clinic
    # Due at once (the appointment is tomorrow, the reminder two days before).
    _rule(clinic, "reminder", 48 * 60, margin=60)
    zone = _zone_in_window()
    texted = _patient(clinic, "Ada", "Sent", timezone=zone)
    silent = _patient(clinic, "Bo", "Skipped", consent=False, timezone=zone)
    tomorrow = _tomorrow(clinic)
    sent = _book(clinic, texted, _at(clinic, tomorrow, 14))
    skipped = _book(clinic, silent, _at(clinic, tomorrow, 15))

    _open_day(page, server, staff, tomorrow)

    def state(appointment: dict[str, Any]) -> dict[str, Any] | None:
        [text] = clinic.get(f"/appointments/{appointment['id']}")["texts"]
        return text if text["state"] != "planned" else None

    wait_until(lambda: state(skipped), 30, "the automation to skip Bo's reminder")
    delivered = wait_until(lambda: state(sent), 30, "the automation to send Ada's reminder")
    clinic.wait_for(int(delivered["message_id"]), {"delivered"}, timeout=30)

    # The list as read once both are settled (the live update refreshes it at most every
    # few seconds, later than this on a loaded machine).
    page.reload()
    expect(_item(page, "Ada Sent")).to_contain_text(
        re.compile(
            r"Reminder \(Reminder 48 h before\) — sent( (\w{3}, \w{3} \d{1,2} at )?"
            r"\d{1,2}:\d\d [AP]M)? Delivered"
        )
    )
    page.reload()
    expect(_item(page, "Bo Skipped")).to_contain_text(
        re.compile(r"Reminder \(Reminder 48 h before\) — skipped: .*opt(ed)? in", re.IGNORECASE)
    )
    assert_accessible(page)
    screenshot(page, "appointments-texts")


def test_staff_confirm_an_appointment_from_the_list(
    server: Server, page: Page, staff: Staff
) -> None:
    clinic = staff.clinic
    patient_id = _patient(clinic, "Lena", "Ortiz")
    tomorrow = _tomorrow(clinic)
    booked = _book(clinic, patient_id, _at(clinic, tomorrow, 9, 45))
    _open_day(page, server, staff, tomorrow)
    item = _item(page, "Lena Ortiz")
    expect(item).to_contain_text("No reminder or confirmation texts are planned")
    item.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("status")).to_contain_text(
        f"Lena Ortiz's appointment on {tomorrow:%a, %b} {tomorrow.day} at 9:45 AM is confirmed."
    )
    expect(item).to_contain_text("Confirmed by staff on")
    expect(item.get_by_role("button", name="Confirm")).to_have_count(0)
    data = clinic.get(f"/appointments/{booked['id']}")
    assert data["status"] == "confirmed" and data["confirmed_via"] == "staff"


def test_an_appointment_that_has_started_is_marked_a_no_show_or_completed(
    server: Server, page: Page, staff: Staff
) -> None:
    clinic = staff.clinic
    patient_id = _patient(clinic, "Omar", "Late")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    booked = _book(clinic, patient_id, start.isoformat())
    day = start.astimezone(_clinic_zone(clinic)).date()
    wait_until(lambda: datetime.now(UTC) > start, 10, "the appointment to start")
    # (Before its start it offers no such buttons: test_an_appointment_offers_only_the_actions.)
    _open_day(page, server, staff, day)
    item = _item(page, "Omar Late")
    expect(item.get_by_role("link", name="Move")).to_have_count(0)
    item.get_by_role("button", name="No-show").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Omar Late's appointment on "
        f"{view.when_words(start, _clinic_zone(clinic))} is marked as a no-show."
    )
    expect(item).to_contain_text("No-show")
    assert clinic.get(f"/appointments/{booked['id']}")["status"] == "no_show"
    # A slip is corrected: it was completed after all.
    item.get_by_role("button", name="Mark completed").click()
    expect(item).to_contain_text("Completed")
    expect(item.get_by_role("button", name="Mark completed")).to_have_count(0)
    assert clinic.get(f"/appointments/{booked['id']}")["status"] == "completed"


def test_the_patient_page_lists_upcoming_appointments_with_their_texts(
    server: Server, page: Page, staff: Staff
) -> None:
    clinic = staff.clinic
    _rule(clinic, "reminder", 24 * 60)
    patient_id = _patient(clinic, "Noor", "Haddad")
    tomorrow = _tomorrow(clinic)
    later = tomorrow + timedelta(days=6)
    first = _book(clinic, patient_id, _at(clinic, tomorrow, 16))
    _book(clinic, patient_id, _at(clinic, later, 8, 30))

    sign_in(page, server.base, staff.email, staff.password)
    page.goto(f"{server.base}/patients/{patient_id}")
    section = page.get_by_role("region", name="Appointments", exact=True)
    first_when = f"{tomorrow:%a, %b} {tomorrow.day} at 4:00 PM"
    expect(section.get_by_role("link", name=first_when)).to_be_visible()
    later_when = f"{later:%a, %b} {later.day} at 8:30 AM"
    expect(section.get_by_role("link", name=later_when)).to_be_visible()
    expect(section).to_contain_text(f"Confirm code {first['confirm_code']}")
    expect(section).to_contain_text("Scheduled")
    expect(section).to_contain_text("Reminder — planned for")
    assert_accessible(page)
    screenshot(page, "appointments-patient-section")

    # Its link opens the day, at the appointment; "Book an appointment" fills the patient.
    section.get_by_role("link", name=first_when).click()
    expect(page).to_have_url(re.compile(rf"day={tomorrow.isoformat()}#appointment-{first['id']}$"))
    expect(_item(page, "Noor Haddad")).to_contain_text("4:00 PM")
    page.go_back()
    page.get_by_role("region", name="Appointments", exact=True).get_by_role(
        "link", name="Book an appointment"
    ).click()
    expect(page.get_by_label("Patient")).to_have_value(f"Noor Haddad (#{patient_id})")


def test_another_clinics_appointments_are_not_found_and_every_change_needs_the_form_token(
    server: Server, page: Page, staff: Staff
) -> None:
    other = server.new_clinic("Other Clinic", [Number(fresh_sender(), "clinic")])
    their_patient = _patient(other, "Kai", "Elsewhere")
    theirs = _book(other, their_patient, _at(other, _tomorrow(other), 11))
    mine = _book(
        staff.clinic,
        _patient(staff.clinic, "Mia", "Here"),
        _at(staff.clinic, _tomorrow(staff.clinic), 11),
    )
    sign_in(page, server.base, staff.email, staff.password)
    page.goto(server.base + "/appointments")
    token = page.locator("form.signout input[name=csrf_token]").get_attribute("value") or ""
    tomorrow = _tomorrow(staff.clinic).isoformat()

    def post(path: str, **form: str) -> int:
        return page.request.post(server.base + path, form=form).status

    theirs_path = f"/appointments/{theirs['id']}"
    assert post(f"{theirs_path}/status", status="canceled", csrf_token=token) == 404
    assert post(f"{theirs_path}/move", date=tomorrow, time="12:00", csrf_token=token) == 404
    assert page.request.get(f"{server.base}{theirs_path}/move").status == 404
    assert page.request.get(f"{server.base}/patients/{their_patient}/appointments").status == 404
    refused = page.request.post(
        server.base + "/appointments",
        form={"patient": f"#{their_patient}", "date": tomorrow, "time": "12", "csrf_token": token},
    )
    assert refused.status == 422
    assert f"No patient has the number #{their_patient}" in refused.text()
    assert other.get(theirs_path) == {**theirs, "texts": other.get(theirs_path)["texts"]}

    # Without the form's token nothing changes, for this clinic's own appointment either.
    assert post(f"/appointments/{mine['id']}/status", status="canceled") == 403
    assert staff.clinic.get(f"/appointments/{mine['id']}")["status"] == "scheduled"
    # Text no database stores is refused next to its field, and nothing is written.
    broken = page.request.post(
        server.base + "/appointments",
        form={
            "patient": "Mia Here",
            "date": tomorrow,
            "time": "15:00",
            "provider": "Dr\x00 Lee",
            "csrf_token": token,
        },
    )
    assert broken.status == 422 and "contains a NUL character; remove it." in broken.text()
    assert len(staff.clinic.get("/appointments", patient_id=mine["patient_id"])) == 1


def test_booking_and_moving_work_without_javascript(
    server: Server, browser: Browser, staff: Staff
) -> None:
    clinic = staff.clinic
    patient_id = _patient(clinic, "Theo", "Plain")
    tomorrow = _tomorrow(clinic)
    context = browser.new_context(viewport=WIDE, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, server.base, staff.email, staff.password)
        page.goto(server.base + "/appointments")
        book = page.get_by_role("region", name="Book an appointment")
        book.get_by_label("Patient").fill("Theo Plain")
        book.get_by_label("Date").fill(tomorrow.isoformat())
        book.get_by_label("Time").fill("14:15")
        book.get_by_role("button", name="Book appointment").click()
        expect(page.get_by_role("status")).to_contain_text(
            f"Booked Theo Plain for {tomorrow:%a, %b} {tomorrow.day} at 2:15 PM."
        )
        [booked] = _appointments(clinic, patient_id)

        _item(page, "Theo Plain").get_by_role("link", name="Move").click()
        panel = page.get_by_role("region", name="Move Theo Plain's appointment")
        panel.get_by_label("New date").fill((tomorrow - timedelta(days=2)).isoformat())
        panel.get_by_role("button", name="Move appointment").click()
        expect(page.get_by_label("New date")).to_have_accessible_description(
            re.compile(r"is in the past")
        )
        assert clinic.get(f"/appointments/{booked['id']}")["starts_at"] == booked["starts_at"]
        page.get_by_label("New date").fill(tomorrow.isoformat())
        page.get_by_label("New time").fill("16:00")
        page.get_by_role("button", name="Move appointment").click()
        expect(page.get_by_role("status")).to_contain_text(
            f"Moved Theo Plain's appointment to {tomorrow:%a, %b} {tomorrow.day} at 4:00 PM."
        )
        moved = clinic.get(f"/appointments/{booked['id']}")
        assert datetime.fromisoformat(moved["starts_at"]) == datetime.fromisoformat(
            _at(clinic, tomorrow, 16)
        )
    finally:
        context.close()
