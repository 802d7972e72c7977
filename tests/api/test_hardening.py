"""Hostile or unlucky input is a 4xx (or a 503 to retry) with the error shape, never a 500:
broken text, odd clock times, huge bodies, a flood of unknown fields, an exhausted pool."""

from __future__ import annotations

import asyncio
import json
import logging
import logging.config
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn.config
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import create_engine
from twilio.request_validator import RequestValidator

from clinictext.api import middleware
from clinictext.api.app import create_app
from clinictext.api.middleware import MAX_BODY_BYTES, BodySizeLimit
from clinictext.api.schemas import MAX_FIELD_PROBLEMS
from clinictext.config import Settings, describe, get_settings
from clinictext.providers.factory import credentials
from clinictext.services import orgs
from clinictext.store.db import session_factory, transaction
from tests.api.helpers import textable_patient
from tests.conftest import Org

LONE_SURROGATE = "\\ud83d"  # as it appears in JSON text: half of an emoji


def _raw(org: Org, method: str, path: str, raw: bytes, **headers: str) -> Any:
    return org.client.request(
        method,
        "/api/v1" + path,
        content=raw,
        headers={**org.headers, "Content-Type": "application/json", **headers},
    )


def _assert_error(answer: Any, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == code, error
    assert error["message"].endswith("."), error
    return error


# --- 1. broken text -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/patients", '{"first_name": "Ana%s", "last_name": "Diaz"}'),
        ("/patients", '{"first_name": "Ana", "last_name": "Diaz", "external_id": "x%s"}'),
        ("/patients", '{"first_name": "Ana", "last_name": "Diaz", "phone": "415%s"}'),
    ],
)
def test_a_lone_surrogate_in_a_patient_field_is_refused_by_name(
    ready_org: Org, path: str, template: str
) -> None:
    raw = (template % LONE_SURROGATE).encode()
    error = _assert_error(_raw(ready_org, "POST", path, raw), 422, "invalid_text")
    assert "retype" in error["message"]
    assert ready_org.get("/patients").json() == []


def test_a_lone_surrogate_in_a_message_body_is_refused_and_nothing_is_queued(
    ready_org: Org,
) -> None:
    pid = textable_patient(ready_org)
    raw = (
        f'{{"patient_id": {pid}, "channel": "clinic", "body": "See you at 3pm {LONE_SURROGATE}"}}'
    ).encode()
    error = _assert_error(_raw(ready_org, "POST", "/messages", raw), 422, "invalid_text")
    assert error["fields"] == [{"field": "body", "problem": error["message"]}]
    assert ready_org.get(f"/patients/{pid}/messages").json() == []


def test_a_lone_surrogate_in_a_nested_field_is_refused(ready_org: Org) -> None:
    raw = ('{"replies": {"help": "Call us ' + LONE_SURROGATE + '"}}').encode()
    _assert_error(_raw(ready_org, "PATCH", "/org", raw), 422, "invalid_text")


def test_a_whole_emoji_in_json_escapes_is_kept(ready_org: Org) -> None:
    raw = b'{"first_name": "Ana \\ud83d\\ude00", "last_name": "Diaz"}'
    answer = _raw(ready_org, "POST", "/patients", raw)
    assert answer.status_code == 201, answer.text
    assert answer.json()["first_name"] == "Ana \U0001f600"


# --- 2. the send window -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "field", "code"),
    [
        ({"start": "+8:00", "end": "21:00"}, "send_window.start", "invalid_time"),
        ({"start": "08:00", "end": "+9:00"}, "send_window.end", "invalid_time"),
        (
            {"start": "\u0660\u0668:\u0660\u0660", "end": "21:00"},
            "send_window.start",
            "invalid_time",
        ),
        ({"start": "08:00", "end": "\u0662\u0661:\u0660\u0660"}, "send_window.end", "invalid_time"),
        ({"start": "8:0", "end": "21:00"}, "send_window.start", "invalid_time"),
        ({"start": " 8:00", "end": "21:00"}, "send_window.start", "invalid_time"),
        ({"start": "08:00", "end": "24:00"}, "send_window.end", "invalid_time"),
        ({"start": "21:00", "end": "08:00"}, "send_window", "invalid_send_window"),
        ({"start": "09:00", "end": "09:00"}, "send_window", "invalid_send_window"),
    ],
)
def test_send_window_must_be_ascii_hh_mm_and_start_before_it_ends(
    ready_org: Org, window: dict[str, str], field: str, code: str
) -> None:
    before = ready_org.get("/org").json()["send_window"]
    error = _assert_error(ready_org.patch("/org", {"send_window": window}), 422, code)
    assert error["fields"][0]["field"] == field
    assert f"'{field}'" in error["message"]
    assert ready_org.get("/org").json()["send_window"] == before


def test_a_valid_send_window_is_saved(ready_org: Org) -> None:
    window = {"start": "00:00", "end": "23:59"}
    assert ready_org.patch("/org", {"send_window": window}).json()["send_window"] == window


def test_the_service_refuses_what_int_would_read(factory: Any) -> None:
    with transaction(factory) as session:
        org = orgs.create_org(session, "Clinic", actor="test")
        for start in ("+8:00", " 8:00", "\u0660\u0668:\u0660\u0660"):
            with pytest.raises(orgs.Invalid, match="HH:MM"):
                orgs.update_org(
                    session, org.id, {"send_window": {"start": start, "end": "21:00"}}, "test"
                )


# --- 3. no free database connection -------------------------------------------------------


@pytest.fixture
def starved_client(db_url: str) -> Iterator[tuple[TestClient, Org]]:
    """An app whose pool has one connection, held by the test: every request must wait."""
    app = create_app(Settings(database_url=db_url), simulator=False)
    with transaction(app.state.session_factory) as session:
        org = orgs.create_org(session, "Clinic", actor="test")
        key = orgs.create_api_key(session, org.id, actor="test").key
    tiny = create_engine(db_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    app.state.session_factory = session_factory(tiny)
    app.state.read_session_factory = session_factory(tiny)
    held = tiny.connect()
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, Org(org.id, key, client)
    finally:
        held.close()
        tiny.dispose()


def test_an_exhausted_connection_pool_is_503_with_retry_after(
    starved_client: tuple[TestClient, Org],
) -> None:
    _client, org = starved_client
    for answer in (org.get("/org"), org.post("/patients", {"first_name": "A", "last_name": "B"})):
        error = _assert_error(answer, 503, "database_unavailable")
        assert int(answer.headers["Retry-After"]) > 0
        assert "nothing was changed" in error["message"]


def test_an_unreachable_database_is_503_with_retry_after(tmp_path: Any) -> None:
    missing = tmp_path / "no-such-dir" / "clinictext.db"
    app = create_app(Settings(database_url=f"sqlite:///{missing}"), simulator=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/healthz")
    _assert_error(answer, 503, "database_unavailable")
    assert int(answer.headers["Retry-After"]) > 0


# --- 4. body size, and floods of unknown fields -------------------------------------------


def test_a_body_declared_over_1_mb_is_413(ready_org: Org) -> None:
    raw = b'{"first_name": "' + b"a" * MAX_BODY_BYTES + b'", "last_name": "B"}'
    error = _assert_error(_raw(ready_org, "POST", "/patients", raw), 413, "payload_too_large")
    assert "1 MB" in error["message"]
    assert ready_org.get("/patients").json() == []


def test_a_chunked_body_over_1_mb_without_content_length_is_413(ready_org: Org) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"first_name": "'
        for _ in range(20):
            yield b"a" * 64_000
        yield b'", "last_name": "B"}'

    answer = ready_org.client.post(
        "/api/v1/patients",
        content=chunks(),
        headers={**ready_org.headers, "Content-Type": "application/json"},
    )
    _assert_error(answer, 413, "payload_too_large")
    assert ready_org.get("/patients").json() == []


def test_a_chunked_body_under_the_cap_reaches_the_route(ready_org: Org) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"first_name": "Ana",'
        yield b' "last_name": "Diaz"}'

    answer = ready_org.client.post(
        "/api/v1/patients",
        content=chunks(),
        headers={**ready_org.headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 201, answer.text


def test_a_webhook_over_1_mb_is_413_before_its_signature_is_checked(client: TestClient) -> None:
    answer = client.post(
        "/webhooks/twilio/sms",
        content=b"Body=" + b"a" * (MAX_BODY_BYTES + 1),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _assert_error(answer, 413, "payload_too_large")


def _run_asgi(
    limit: int, messages: list[dict[str, Any]], headers: list[tuple[bytes, bytes]]
) -> tuple[list[dict[str, Any]], int, list[bytes]]:
    """Drive BodySizeLimit directly: what it sent, how many messages it read, what the app got."""
    received: list[bytes] = []
    sent: list[dict[str, Any]] = []
    reads = 0

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        received.append(message["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return messages.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    asyncio.run(BodySizeLimit(app, max_bytes=limit)(scope, receive, send))
    return sent, reads, received


def test_the_cap_stops_reading_a_stream_as_soon_as_it_passes_the_limit() -> None:
    chunk = {"type": "http.request", "body": b"x" * 40, "more_body": True}
    sent, reads, received = _run_asgi(100, [dict(chunk) for _ in range(10)], [])
    assert sent[0]["status"] == 413
    assert (b"connection", b"close") in sent[0]["headers"]
    assert json.loads(sent[1]["body"])["error"]["code"] == "payload_too_large"
    assert reads == 3  # 120 bytes > 100: the other 7 chunks are never read
    assert received == []  # the app never ran


def test_the_cap_trusts_a_declared_length_without_reading_anything() -> None:
    sent, reads, received = _run_asgi(100, [], [(b"content-length", b"101")])
    assert sent[0]["status"] == 413
    assert reads == 0 and received == []


def test_the_cap_hands_a_body_at_the_limit_to_the_app_in_one_piece() -> None:
    messages = [
        {"type": "http.request", "body": b"x" * 60, "more_body": True},
        {"type": "http.request", "body": b"y" * 40, "more_body": False},
    ]
    sent, _reads, received = _run_asgi(100, messages, [(b"content-length", b"100")])
    assert sent[0]["status"] == 200
    assert received == [b"x" * 60 + b"y" * 40]


def test_a_flood_of_unknown_fields_is_refused_fast_with_a_short_answer(ready_org: Org) -> None:
    body = {"first_name": "A", "last_name": "B", **{f"k{i}": 0 for i in range(80_000)}}
    raw = json.dumps(body, separators=(",", ":")).encode()
    assert len(raw) < MAX_BODY_BYTES
    answer = _raw(ready_org, "POST", "/patients", raw)
    error = _assert_error(answer, 422, "invalid_request")
    assert len(error["fields"]) == MAX_FIELD_PROBLEMS
    assert error["fields"][0] == {"field": "k0", "problem": "'k0' is not a field of this request."}
    assert "80,000" in error["message"]
    # Was 8 MB of answer, one sentence for each field: the answer's size is the work's bound.
    assert len(answer.content) < 5_000


def test_a_few_unknown_fields_are_reported_with_the_other_problems(ready_org: Org) -> None:
    error = _assert_error(
        ready_org.post("/patients", {"first_name": "A", "fone": "1"}), 422, "invalid_request"
    )
    assert {p["field"] for p in error["fields"]} == {"fone", "last_name"}


def test_a_list_of_problems_is_capped(ready_org: Org) -> None:
    body = {f"k{i}": 0 for i in range(MAX_FIELD_PROBLEMS + 2)}  # only just a flood
    body.update(first_name="A", last_name="B")
    error = _assert_error(ready_org.post("/patients", body), 422, "invalid_request")
    assert len(error["fields"]) == MAX_FIELD_PROBLEMS


# --- 7. logs ------------------------------------------------------------------------------


def _access_record(path: str) -> logging.LogRecord:
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 200),
        None,
    )


def test_access_log_lines_keep_the_path_and_drop_the_query() -> None:
    record = _access_record("/api/v1/patients?q=Zebulon&phone=%2B14155550123")
    assert middleware.ACCESS_LOG_FILTER.filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /api/v1/patients HTTP/1.1" 200'


@pytest.fixture
def uvicorn_loggers() -> Iterator[None]:
    """Put uvicorn's loggers back as they were after a test configures them."""
    names = ("uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {n: logging.getLogger(n) for n in names}
    state = {n: (lg.level, list(lg.handlers), lg.propagate) for n, lg in saved.items()}
    yield
    for name, logger in saved.items():
        logger.level, logger.handlers, logger.propagate = state[name]


@pytest.mark.usefixtures("uvicorn_loggers")
def test_the_access_log_filter_survives_uvicorns_logging_config(db_url: str) -> None:
    create_app(Settings(database_url=db_url), simulator=False)
    logging.config.dictConfig(uvicorn.config.LOGGING_CONFIG)  # what uvicorn.run does next
    assert middleware.ACCESS_LOG_FILTER in logging.getLogger("uvicorn.access").filters
    assert middleware.TRACEBACK_FILTER in logging.getLogger("uvicorn.error").filters


def test_an_unexpected_error_is_logged_without_its_message(
    db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(Settings(database_url=db_url), simulator=False)

    name, phone = "Zebulon Quist", "+14155550123"

    @app.get("/boom")
    def boom() -> None:  # the message of a database error holds the statement's parameters
        raise RuntimeError(f"INSERT ... parameters ({name!r}, {phone!r})")

    caplog.set_level(logging.INFO)
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/boom")
    _assert_error(answer, 500, "internal_error")
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "RuntimeError" in logged and "boom" in logged
    assert "Zebulon" not in logged and "4155550123" not in logged


# --- 6. settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "missing",
    [
        {"twilio_account_sid": "", "twilio_auth_token": "secret"},
        {"twilio_account_sid": "AC" + "1" * 32, "twilio_auth_token": ""},
        {"twilio_account_sid": "  ", "twilio_auth_token": "  "},
    ],
)
def test_twilio_without_credentials_is_refused_naming_what_is_missing(
    missing: dict[str, str],
) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(provider="twilio", **missing)  # type: ignore[arg-type]
    message = describe(caught.value)
    for name, value in missing.items():
        assert (f"CLINICTEXT_{name.upper()}" in message) == (not value.strip())
    assert "\n" not in message


def test_the_auth_token_is_never_printed() -> None:
    settings = Settings(provider="twilio", twilio_account_sid="AC1", twilio_auth_token="s3cr3t")
    assert "s3cr3t" not in repr(settings) and "s3cr3t" not in str(settings.model_dump())
    assert credentials(settings) == ("AC1", "s3cr3t")
    assert credentials(Settings(provider="simulator"))[1] == "simulator-auth-token"


def test_get_settings_stops_the_process_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLINICTEXT_PROVIDER", "twilio")
    monkeypatch.delenv("CLINICTEXT_TWILIO_ACCOUNT_SID", raising=False)
    monkeypatch.delenv("CLINICTEXT_TWILIO_AUTH_TOKEN", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(SystemExit) as caught:
            get_settings()
    finally:
        get_settings.cache_clear()
    assert str(caught.value).startswith("Invalid settings: CLINICTEXT_PROVIDER=twilio needs")


def test_serve_with_twilio_and_no_token_exits_with_one_clear_line(tmp_path: Any) -> None:
    env = {
        **os.environ,
        "CLINICTEXT_PROVIDER": "twilio",
        "CLINICTEXT_TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "CLINICTEXT_DATABASE_URL": f"sqlite:///{tmp_path / 'clinictext.db'}",
    }
    env.pop("CLINICTEXT_TWILIO_AUTH_TOKEN", None)
    clinictext = str(Path(sys.executable).with_name("clinictext"))
    done = subprocess.run(
        [clinictext, "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1, lines
    assert "CLINICTEXT_TWILIO_AUTH_TOKEN" in lines[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "clinictext.db").exists()  # stopped before touching anything


# --- 8. the API reference offline -----------------------------------------------------------


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_reference_loads_everything_from_this_server(client: TestClient, page: str) -> None:
    answer = client.get(page)
    assert answer.status_code == 200
    html = answer.text
    urls = re.findall(r"""(?:src|href|spec-url)=["']([^"']+)["']""", html)
    urls += re.findall(r"""\burl: ?["']([^"']+)["']""", html)
    assert len(urls) >= 3, html
    for url in urls:
        assert url.startswith("/") and not url.startswith("//"), url
        assert client.get(url).status_code == 200, url
    assert "http://" not in html and "https://" not in html
    if page == "/docs":
        assert "swagger-ui-bundle.js" in html and '"validatorUrl": null' in html


def test_the_root_leads_programs_to_the_docs_and_browsers_to_the_pages(client: TestClient) -> None:
    answer = client.get("/", follow_redirects=False)
    assert answer.headers["location"] == "/docs"
    browser = client.get("/", headers={"Accept": "text/html,*/*;q=0.8"}, follow_redirects=False)
    assert browser.headers["location"] == "/login"


# --- 9. the error answers in the OpenAPI document --------------------------------------------


def test_every_operation_documents_its_error_answers_in_the_error_shape(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in json.dumps(document)
    error = {"$ref": "#/components/schemas/Error"}
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            responses = op["responses"]
            assert responses["503"]["headers"]["Retry-After"], (method, path)
            if path.startswith("/api/"):
                assert "401" in responses, (method, path)
            if "{" in path:
                assert "404" in responses, (method, path)
            if "requestBody" in op:
                assert {"400", "413", "415", "422"} <= set(responses), (method, path)
            for status, answer in responses.items():
                if status >= "400":
                    assert answer["content"]["application/json"]["schema"] == error
    webhook = document["paths"]["/webhooks/twilio/sms"]["post"]["responses"]
    assert {"400", "403", "413"} <= set(webhook)


# --- signed webhooks with fields no database column can hold ---------------------------------

SIGNING_BASE = "http://127.0.0.1:8000/webhooks/twilio"  # the default public URL
SID = "SM" + "a" * 32


def _signed_webhook(client: TestClient, kind: str, params: dict[str, str]) -> Any:
    signature = RequestValidator("simulator-auth-token").compute_signature(
        f"{SIGNING_BASE}/{kind}", params
    )
    return client.post(
        f"/webhooks/twilio/{kind}", data=params, headers={"X-Twilio-Signature": signature}
    )


@pytest.mark.parametrize(
    "params",
    [
        {"MessageSid": "SM\x00" + "a" * 31, "From": "+14155550123"},
        {"MessageSid": "SM" + "a" * 5000, "From": "+14155550123"},
        {"MessageSid": SID, "From": "+1415555\x000123"},
        {"MessageSid": SID, "From": "x" * 5000},
    ],
    ids=["nul-in-sid", "long-sid", "nul-in-from", "long-from"],
)
def test_an_inbound_webhook_with_impossible_fields_is_400(
    ready_org: Org, params: dict[str, str]
) -> None:
    answer = _signed_webhook(
        ready_org.client, "sms", {"To": "+15005550006", "Body": "hi", **params}
    )
    _assert_error(answer, 400, "malformed_inbound")


@pytest.mark.parametrize(
    "params",
    [
        {"MessageSid": "SM" + "a" * 5000, "MessageStatus": "delivered"},
        {"MessageSid": "SM\x00", "MessageStatus": "delivered"},
        {"MessageSid": SID, "MessageStatus": "failed", "ErrorCode": "9" * 5000},
        {"MessageSid": SID, "MessageStatus": "failed", "ErrorCode": "3\x00"},
    ],
    ids=["long-sid", "nul-in-sid", "long-error-code", "nul-in-error-code"],
)
def test_a_status_callback_with_impossible_fields_is_400(
    client: TestClient, params: dict[str, str]
) -> None:
    _assert_error(_signed_webhook(client, "status", params), 400, "malformed_callback")


def test_an_inbound_text_with_a_nul_is_kept_without_it(ready_org: Org) -> None:
    pid = textable_patient(ready_org)
    ready_org.post("/numbers", {"number": "+15005550006", "purpose": "clinic"})
    params = {
        "MessageSid": SID,
        "From": "+14155550123",
        "To": "+15005550006",
        "Body": "see\x00you",
        "NumSegments": "99999999999",
    }
    answer = _signed_webhook(ready_org.client, "sms", params)
    assert answer.status_code == 200, answer.text
    [received] = [
        m for m in ready_org.get(f"/patients/{pid}/messages").json() if m["direction"] == "inbound"
    ]
    assert received["body"] == "see\ufffdyou"


@pytest.mark.parametrize(
    "path",
    ["/patients?q=a%00b", "/audit?entity=a%00", "/patients?phone=415%00", "/messages?status=%00"],
)
def test_a_nul_in_a_query_is_422_not_a_database_error(ready_org: Org, path: str) -> None:
    error = _assert_error(ready_org.get(path), 422, "invalid_request")
    assert "%00" in error["message"]


def test_json_nested_too_deeply_to_read_is_400_malformed_json(ready_org: Org) -> None:
    raw = b"[" * 200_000 + b"]" * 200_000  # under the size cap, over the parser's depth
    error = _assert_error(_raw(ready_org, "POST", "/patients", raw), 400, "malformed_json")
    assert "nested too deeply" in error["message"]


@pytest.mark.parametrize("depth", [500, 990])
def test_a_deeply_nested_value_in_a_field_is_422(ready_org: Org, depth: int) -> None:
    nested = b"[" * depth + b"]" * depth
    raw = b'{"first_name": "A", "last_name": "B", "language": ' + nested + b"}"
    answer = _raw(ready_org, "POST", "/patients", raw)
    assert answer.status_code in (400, 422), answer.text


@pytest.mark.parametrize("name", ["Clinic \udcff", "Clinic \ud83d", "Clinic\x00"])
def test_an_organization_name_with_broken_text_is_refused(factory: Any, name: str) -> None:
    with transaction(factory) as session, pytest.raises(orgs.Invalid) as caught:
        orgs.create_org(session, name, actor="test")
    assert caught.value.code == "invalid_text"
    with transaction(factory) as session:
        org = orgs.create_org(session, "Clinic", actor="test")
        with pytest.raises(orgs.Invalid, match="key's name"):
            orgs.create_api_key(session, org.id, name=name, actor="test")
