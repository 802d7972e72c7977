"""Signing in and out in a real browser: the sign-in page, wrong passwords and the growing
delay, sign-out, a disabled user's session, and the session cookie's flags."""

from __future__ import annotations

import re
import subprocess

import httpx
from playwright.sync_api import BrowserContext, Page, expect

from tests.e2e.harness import CLI_TIMEOUT, CLINICTEXT, Server
from tests.web.browser import Staff, add_user, assert_accessible, screenshot, sign_in


def test_sign_in_page_is_labelled_accessible_and_signs_in_and_out(
    server: Server, page: Page, context: BrowserContext, staff: Staff
) -> None:
    page.goto(server.base + "/inbox")
    expect(page).to_have_url(re.compile(r"/login\?next=/inbox$"))
    expect(page.get_by_label("Email")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_visible()
    assert_accessible(page)
    screenshot(page, "login")

    sign_in(page, server.base, staff.email, staff.password)
    expect(page).to_have_url(re.compile(r"/inbox$"))
    cookie = next(c for c in context.cookies() if c["name"] == "clinictext_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert not cookie["secure"]  # the public URL is http here; https makes it Secure

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto(server.base + "/inbox")
    expect(page).to_have_url(re.compile(r"/login"))


def test_a_wrong_password_is_refused_and_repeated_failures_slow_down(
    server: Server, page: Page, staff: Staff
) -> None:
    for attempt in range(1, 6):
        page.goto(server.base + "/login")
        page.get_by_label("Email").fill(staff.email)
        page.get_by_label("Password").fill(f"wrong-{attempt}")
        page.get_by_role("button", name="Sign in").click()
        alert = page.get_by_role("alert")
        expect(alert).to_contain_text("The email or password is not right")
        # What was typed stays; the password does not.
        expect(page.get_by_label("Email")).to_have_value(staff.email)
        expect(page.get_by_label("Password")).to_have_value("")
    expect(page.get_by_role("alert")).to_contain_text("wait 30 seconds")
    screenshot(page, "login-throttled")

    # During the delay even the right password is not heard.
    page.get_by_label("Password").fill(staff.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins for this email")
    expect(page).to_have_url(re.compile(r"/login$"))

    # An administrator's password reset clears the delay.
    subprocess.run(
        [
            CLINICTEXT,
            "user",
            "reset-password",
            "--org",
            str(staff.clinic.org_id),
            "--email",
            staff.email,
            "--password-stdin",
        ],
        input="a-brand-new-password\n",
        env=server.env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=True,
    )
    sign_in(page, server.base, staff.email, "a-brand-new-password")
    expect(page).to_have_url(re.compile(r"/inbox$"))


def test_a_disabled_user_is_signed_out_at_once(server: Server, page: Page, staff: Staff) -> None:
    sign_in(page, server.base, staff.email, staff.password)
    subprocess.run(
        [CLINICTEXT, "user", "disable", "--org", str(staff.clinic.org_id), "--email", staff.email],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=True,
    )
    page.goto(server.base + "/inbox")
    expect(page).to_have_url(re.compile(r"/login"))
    page.get_by_label("Email").fill(staff.email)
    page.get_by_label("Password").fill(staff.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("This account is disabled")


def test_the_sign_in_form_refuses_a_post_without_its_token(server: Server, staff: Staff) -> None:
    with httpx.Client(base_url=server.base, timeout=30) as http:
        answer = http.post("/login", data={"email": staff.email, "password": staff.password})
        assert answer.status_code == 403
        assert "clinictext_session" not in answer.cookies
        assert "nothing was changed" in answer.text


def test_an_api_key_does_not_open_the_pages(server: Server, staff: Staff) -> None:
    with httpx.Client(base_url=server.base, timeout=30, follow_redirects=False) as http:
        answer = http.get("/inbox", headers=staff.clinic.headers)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/login")


def test_a_second_admin_can_be_added_by_the_command_line(server: Server, staff: Staff) -> None:
    other = add_user(server, staff.clinic, "admin")
    assert other.role == "admin" and other.user_id != staff.user_id


def test_signing_in_works_from_the_keyboard_alone(server: Server, page: Page, staff: Staff) -> None:
    page.goto(server.base + "/login")
    expect(page.get_by_label("Email")).to_be_focused()  # autofocus: no mouse needed
    page.keyboard.type(staff.email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(staff.password)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/inbox$"))
    # The first Tab on a page reaches the skip link, which jumps past the navigation.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
