"""Browser test fixtures: one real ``clinictext serve`` (SQLite, the simulator mounted) and
one Chromium per module, a fresh browser context per test.

Playwright's sync API keeps an event loop running in this thread while it is started, so
it lives only as long as a module's browser tests: tests that run after them may call
``asyncio.run`` again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.e2e.harness import Number, Server, fresh_sender, sqlite_server
from tests.web.browser import CHROMIUM_FLAGS, UI_TIMEOUT_MS, WIDE, Staff, add_user, chromium_path


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(
        executable_path=chromium_path(), args=CHROMIUM_FLAGS, headless=True
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with sqlite_server(tmp_path_factory, "web") as running:
        yield running


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    # bypass_csp lets the accessibility check inject axe-core; the app's own pages run
    # under their Content-Security-Policy in every other respect.
    ctx = browser.new_context(viewport=WIDE, bypass_csp=True)
    ctx.set_default_timeout(UI_TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def staff(server: Server) -> Staff:
    """A staff user of a fresh clinic that can text (SMS on, a lead and a clinic number)."""
    clinic = server.new_clinic(
        "Web Clinic",
        [Number(fresh_sender(), "lead"), Number(fresh_sender(), "clinic")],
    )
    return add_user(server, clinic, "staff")


@pytest.fixture
def admin(server: Server, staff: Staff) -> Staff:
    """An admin of the same clinic as ``staff``."""
    return add_user(server, staff.clinic, "admin")
