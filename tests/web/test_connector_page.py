"""The connector page in a real browser: the provider goes down, the banner appears on
every page, the connector page says why texts are pending, errors are acknowledged, and
Refresh says what it re-sent once the provider is back."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from clinictext.web.pages.connector import refresh_summary
from tests.e2e.harness import Clinic, Patient, Server, fresh_phone, wait_until
from tests.web.browser import Staff, assert_accessible, screenshot, sign_in

# Enough texts that some still wait when Refresh is pressed: the clinic's number sends one
# segment a second once the provider is back.
OUTAGE_TEXTS = 6
HOSTILE_NAME = "<b>Bold</b>"


@pytest.fixture(autouse=True)
def _provider_back_up(server: Server) -> Iterator[None]:
    yield
    server.sim("/outage", {"mode": "up"})


def _open_errors(connector: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in connector["errors"] if not e["acknowledged"]]


def _patient(clinic: Clinic, first_name: str) -> Patient:
    body = {"first_name": first_name, "last_name": "Test", "phone": fresh_phone()}
    data = clinic.post("/patients", body, expect=201).json()
    clinic.post(
        f"/patients/{data['id']}/consent",
        {"action": "opt_in", "level": "informational", "source": "web_form", "evidence": "test"},
        expect=201,
    )
    return Patient(int(data["id"]), data["phone"])


@pytest.mark.timeout(150)
def test_an_outage_shows_the_banner_the_connector_page_acknowledge_and_refresh(
    server: Server, page: Page, staff: Staff
) -> None:
    clinic = staff.clinic
    patients = [_patient(clinic, HOSTILE_NAME), _patient(clinic, "Ann")]

    sign_in(page, server.base, staff.email, staff.password)
    expect(page).to_have_url(re.compile(r"/inbox$"))
    banner = page.locator("#connector-banner")
    expect(banner).not_to_contain_text("Texting connector")

    # The provider goes down and texts fail: the banner appears on the open page by itself.
    server.sim("/outage", {"mode": "down"})
    for i in range(OUTAGE_TEXTS):
        clinic.send(patients[i % len(patients)], f"Outage text {i}: see you soon.")
    wait_until(
        lambda: (c := clinic.connector())["state"] == "down" and _open_errors(c),
        30,
        "the connector to be down with an open error",
        clinic.connector,
    )
    expect(banner.get_by_role("alert")).to_contain_text("Texting connector down.")
    banner.get_by_role("link", name="Open the connector page").click()
    expect(page).to_have_url(re.compile(r"/connector$"))
    expect(page.get_by_role("heading", name="Connector", exact=True)).to_be_visible()

    # State as a word, since when, last success.
    expect(page.locator("#connector-state")).to_contain_text(re.compile(r"Down\s+since \w+"))
    expect(page.locator("#connector-state .label")).to_have_class(re.compile("tone-bad"))
    expect(page.locator("#connector-last-success")).to_contain_text("Last success: never")

    # How many texts are pending, and why, grouped by the diagnosis each text has.
    pending = page.get_by_role("region", name="Pending texts")
    expect(pending).to_contain_text(f"{OUTAGE_TEXTS} texts are pending.")
    group = pending.get_by_role("listitem")
    expect(group).to_have_count(1)
    expect(group).to_contain_text(
        f"{OUTAGE_TEXTS} texts: Pending because the SMS provider is unreachable "
        "(connector down since"
    )
    expect(group).to_contain_text("Nothing to do: it resends by itself.")
    # Patients' names are text, never markup.
    expect(group.get_by_role("link", name=f"{HOSTILE_NAME} Test")).to_have_attribute(
        "href", f"/patients/{patients[0].id}"
    )
    expect(group.locator("b")).to_have_count(0)

    # The errors: time, message, how often, not acknowledged yet.
    errors = page.get_by_role("region", name="Errors")
    open_before = _open_errors(clinic.connector())
    first = open_before[0]
    row = errors.get_by_role("listitem").filter(has_text=first["message"]).first
    expect(row).to_contain_text("Not acknowledged")
    expect(row).to_contain_text(re.compile(r"\d{1,2}:\d{2} (AM|PM)"))
    expect(errors).to_contain_text(re.compile(r"\d+ errors? not acknowledged\."))
    screenshot(page, "connector-down")
    assert_accessible(page)

    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#connector-result")).to_contain_text(
        re.compile(r"Acknowledged \d+ errors?\.")
    )
    acknowledged = {e["id"]: e["acknowledged"] for e in clinic.connector()["errors"]}
    assert all(acknowledged[e["id"]] for e in open_before), acknowledged
    # While the outage lasts a new probe may record a new error: the old ones say so.
    done = errors.get_by_role("listitem").filter(has=page.locator(".label.tone-muted"))
    expect(done.first).to_contain_text(re.compile(r"acknowledged \w+ \d+, \d{1,2}:\d{2}"))

    # The provider is back: Refresh re-sends the waiting texts and says how many.
    server.sim("/outage", {"mode": "up"})
    page.get_by_role("button", name="Refresh").click()
    result = page.locator("#connector-result")
    expect(result).to_contain_text(re.compile(r"Re-sent \d+ texts?\."))
    resent = int(re.search(r"Re-sent (\d+) text", result.inner_text()).group(1))  # type: ignore[union-attr]
    assert 1 <= resent <= OUTAGE_TEXTS, result.inner_text()
    expect(result).to_contain_text("The SMS provider is answering.")
    expect(page.locator("#connector-state")).to_contain_text(re.compile(r"Up|Degraded"))
    # The texts go out and the page follows without a reload.
    expect(pending).to_contain_text("No texts are pending.", timeout=40_000)
    expect(page.locator("#connector-last-success")).not_to_contain_text("never")
    assert clinic.connector()["pending"] == 0
    screenshot(page, "connector-refreshed")
    assert_accessible(page)


def test_refresh_while_the_provider_is_still_down_says_nothing_was_re_sent(
    server: Server, page: Page, staff: Staff
) -> None:
    clinic = staff.clinic
    patient = _patient(clinic, "Bea")
    server.sim("/outage", {"mode": "down"})
    clinic.send(patient, "Your results are in.")
    wait_until(lambda: _open_errors(clinic.connector()), 30, "an open error", clinic.connector)

    sign_in(page, server.base, staff.email, staff.password)
    page.goto(server.base + "/connector")
    page.get_by_role("button", name="Refresh").click()
    result = page.locator("#connector-result")
    expect(result).to_contain_text(
        "The SMS provider still cannot be reached, so nothing was re-sent. The pending text "
        "waits and goes out by itself when it answers."
    )
    expect(result).to_contain_text("check the provider credentials")
    expect(page.get_by_role("region", name="Pending texts")).to_contain_text("1 text is pending.")


def test_the_connector_page_of_a_quiet_clinic_says_all_is_well(
    server: Server, page: Page, staff: Staff
) -> None:
    sign_in(page, server.base, staff.email, staff.password)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Connector").click()
    expect(page).to_have_url(re.compile(r"/connector$"))
    expect(page.locator("#connector-state")).to_contain_text("Up")
    expect(page.locator("#connector-state .label")).to_have_class(re.compile("tone-ok"))
    expect(page.get_by_role("region", name="Pending texts")).to_contain_text(
        "No texts are pending."
    )
    expect(page.get_by_role("region", name="Errors")).to_contain_text("No errors recorded.")
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(page.locator("#connector-banner")).not_to_contain_text("Texting connector")
    screenshot(page, "connector-up")
    assert_accessible(page)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        ((True, 12, 0, 0), "Re-sent 12 texts. The SMS provider is answering."),
        ((True, 1, 0, 0), "Re-sent 1 text. The SMS provider is answering."),
        ((True, 0, 0, 0), "No texts were waiting to be re-sent. The SMS provider is answering."),
        (
            (True, 2, 3, 0),
            "Re-sent 2 texts. Asked the provider about 3 texts not yet confirmed as delivered; "
            "their statuses are up to date. The SMS provider is answering.",
        ),
        (
            (False, 0, 0, 4),
            "The SMS provider still cannot be reached, so nothing was re-sent. The 4 pending "
            "texts wait and go out by themselves when it answers. If this lasts, check the "
            "provider credentials.",
        ),
    ],
)
def test_a_refresh_is_said_in_words(args: tuple[bool, int, int, int], said: str) -> None:
    assert refresh_summary(*args) == said
