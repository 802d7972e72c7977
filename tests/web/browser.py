"""The browser tests' tools: the distribution's Chromium driven by Playwright, staff users
signed in through the real sign-in page, screenshots and an accessibility check.

Playwright never downloads a browser here: it drives the Chromium the machine has
(``CLINICTEXT_CHROMIUM``, else ``chromium`` on the PATH), with the flags a closed network
needs. The screenshots land in ``test-artifacts/screenshots`` (git-ignored).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.harness import CLI_TIMEOUT, CLINICTEXT, Clinic, Server

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
WIDE = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
]
# How long a page may take to show what a test waits for (live updates poll once a second).
UI_TIMEOUT_MS = 20_000
expect.set_options(timeout=UI_TIMEOUT_MS)


def chromium_path() -> str:
    """The Chromium to drive; a missing browser fails the run (it is not a reason to skip)."""
    path = os.environ.get("CLINICTEXT_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail(
            "Chromium is not installed: the browser tests need it. Install the distribution's "
            "package ('apt-get install chromium', as '.ci/run' and 'make test' do) or set "
            "CLINICTEXT_CHROMIUM to a Chromium binary.",
            pytrace=False,
        )
    return path


@dataclass
class Staff:
    """A signed-up user of a clinic, who signs in through the page."""

    clinic: Clinic
    user_id: int
    email: str
    password: str
    role: str


def add_user(
    server: Server, clinic: Clinic, role: str = "staff", email: str | None = None
) -> Staff:
    email = email or f"{role}-{clinic.org_id}-{os.urandom(3).hex()}@clinic.example"
    password = f"pw-{os.urandom(6).hex()}"
    result = subprocess.run(
        [
            CLINICTEXT,
            "user",
            "create",
            "--org",
            str(clinic.org_id),
            "--email",
            email,
            "--role",
            role,
            "--password-stdin",
            "--json",
        ],
        input=password + "\n",
        env=server.env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    data: dict[str, Any] = __import__("json").loads(result.stdout.strip().splitlines()[-1])
    assert data["email"] == email and data["role"] == role
    return Staff(clinic, int(data["id"]), email, password, role)


def sign_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(base + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/login"))


def screenshot(page: Page, name: str) -> None:
    """Save the page as it is at 1280 px and at 390 px wide (a phone)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size or WIDE
    for label, size in (("1280", WIDE), ("390", PHONE)):
        page.set_viewport_size(size)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(original)


def accessibility_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    page.add_script_tag(content=AXE.read_text())
    result: dict[str, Any] = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations']})"
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def assert_accessible(page: Page) -> None:
    problems = accessibility_violations(page)
    assert not problems, problems


def signed_in_http(base: str, email: str, password: str) -> Any:
    """An ``httpx.Client`` signed in through the sign-in form (as a browser would be)."""
    import httpx

    http = httpx.Client(base_url=base, timeout=30)
    form = http.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token, form.text
    answer = http.post(
        "/login", data={"email": email, "password": password, "csrf_token": token.group(1)}
    )
    assert answer.status_code == 303, answer.text
    assert "clinictext_session" in http.cookies
    return http
