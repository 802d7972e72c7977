"""Sign-in, sessions and CSRF at the HTTP level, in process (no browser): cookie flags,
the token on every state-changing request, security headers, and safe redirects."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from clinictext.api.app import create_app
from clinictext.config import Settings
from clinictext.services import orgs, users
from clinictext.store.db import transaction

PASSWORD = "front-desk-password"


@pytest.fixture
def user_email(factory: sessionmaker[Session]) -> str:
    with transaction(factory) as session:
        org = orgs.create_org(session, "Clinic", actor="test")
        users.create_user(session, org.id, "desk@clinic.example", "staff", PASSWORD, "test")
    return "desk@clinic.example"


def make_client(db_url: str, public_url: str = "http://127.0.0.1:8000") -> TestClient:
    app = create_app(Settings(database_url=db_url, public_url=public_url), simulator=False)
    scheme = public_url.split(":")[0]  # a Secure cookie comes back only over https
    return TestClient(app, raise_server_exceptions=False, base_url=f"{scheme}://testserver")


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    with make_client(db_url) as c:
        yield c


def login_token(client: TestClient, next_path: str = "") -> str:
    page = client.get("/login" + (f"?next={next_path}" if next_path else ""))
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def sign_in(client: TestClient, email: str, next_path: str = "/inbox") -> str:
    token = login_token(client)
    answer = client.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token, "next": next_path},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["location"]


def csrf_of(client: TestClient) -> str:
    page = client.get("/inbox")
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def test_the_session_cookie_is_httponly_lax_and_secure_behind_https(
    db_url: str, user_email: str
) -> None:
    with make_client(db_url, "https://texts.clinic.example") as https:
        token = login_token(https)
        answer = https.post(
            "/login",
            data={"email": user_email, "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        cookie = answer.headers["set-cookie"]
        assert "clinictext_session=" in cookie
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie


def test_state_changes_need_the_sessions_token(client: TestClient, user_email: str) -> None:
    sign_in(client, user_email)
    refused = client.post("/logout", follow_redirects=False)
    assert refused.status_code == 403
    assert "nothing was changed" in refused.text
    assert client.get("/inbox", follow_redirects=False).status_code == 200  # still signed in
    wrong = client.post("/logout", data={"csrf_token": "x" * 43}, follow_redirects=False)
    assert wrong.status_code == 403
    header = client.post(
        "/logout", headers={"X-CSRF-Token": csrf_of(client)}, follow_redirects=False
    )
    assert header.status_code == 303 and header.headers["location"] == "/login"
    assert client.get("/inbox", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    ("asked", "lands"),
    [
        ("/leads", "/leads"),
        ("//evil.example/x", "/inbox"),
        ("https://evil.example", "/inbox"),
        ("/\\evil.example", "/inbox"),
        ("", "/inbox"),
    ],
)
def test_sign_in_only_goes_on_to_a_path_of_this_server(
    client: TestClient, user_email: str, asked: str, lands: str
) -> None:
    assert sign_in(client, user_email, asked) == lands


def test_pages_carry_security_headers_and_the_api_does_not(
    client: TestClient, user_email: str
) -> None:
    page = client.get("/login")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"
    assert re.fullmatch(r"app;dur=[\d.]+", page.headers["server-timing"])
    api = client.get("/healthz")
    assert "content-security-policy" not in api.headers


def test_a_bad_sign_in_form_is_a_page_not_json(client: TestClient, user_email: str) -> None:
    token = login_token(client)
    answer = client.post("/login", data={"email": "x" * 2000, "password": "y", "csrf_token": token})
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")
    empty = client.post("/login", data={"email": "", "password": "", "csrf_token": token})
    assert empty.status_code == 422 and "Enter your email and your password." in empty.text


def test_pages_that_do_not_exist_are_pages_and_the_api_stays_json(
    client: TestClient, user_email: str
) -> None:
    sign_in(client, user_email)
    missing = client.get("/patients/999999")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert client.get("/api/v1/nothing").headers["content-type"].startswith("application/json")
