"""No patient's name, number or message appears in the logs above DEBUG.

A realistic day runs through a real server: a patient is created, found by name and by
number, texted, and texts back. Every log record at INFO or above is captured (the app's,
the dispatcher's, the simulator's and uvicorn's access and error logs) and searched for the
patient's name, phone number and both message bodies.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from clinictext.api.app import create_app
from clinictext.config import Settings
from clinictext.services import orgs
from clinictext.store.db import make_engine, session_factory, transaction, upgrade
from tests.e2e.harness import fresh_sender, running_server, sqlite_url, wait_until

FIRST, LAST = "Zebulonia", "Quixwortle"
PHONE_TYPED, PHONE_DIGITS = "(415) 555-0187", "4155550187"
OUTBOUND = "Your Marmalade-7731 results are ready"
INBOUND = "Thanks, Persimmon-4412 works for me"
SECRETS = (FIRST, LAST, PHONE_DIGITS, "555-0187", "555 0187", "Marmalade-7731", "Persimmon-4412")
WAIT = 20.0


def _run_a_day(http: httpx.Client, base: str, key: str, sender: str) -> None:
    """Create, search, text and hear back from one patient; every step must succeed."""
    headers = {"Authorization": f"Bearer {key}"}

    def call(method: str, path: str, expect: int, **kw: Any) -> Any:
        answer = http.request(method, f"{base}/api/v1{path}", headers=headers, **kw)
        assert answer.status_code == expect, f"{method} {path}: {answer.text}"
        return answer.json() if answer.content else None

    call("PATCH", "/org", 200, json={"sms_enabled": True, "messaging_registration": "approved"})
    call("POST", "/numbers", 201, json={"number": sender, "purpose": "clinic", "mps": 10})
    patient = call(
        "POST",
        "/patients",
        201,
        json={"first_name": FIRST, "last_name": LAST, "phone": PHONE_TYPED},
    )
    pid, phone = patient["id"], patient["phone"]
    consent = {"action": "opt_in", "level": "marketing", "source": "web_form", "evidence": "e2e"}
    call("POST", f"/patients/{pid}/consent", 201, json=consent)
    for params in (
        {"q": FIRST},
        {"q": f"{FIRST} {LAST}"},
        {"phone": phone},
        {"phone": PHONE_TYPED},
    ):
        assert [p["id"] for p in call("GET", "/patients", 200, params=params)] == [pid], params
    sent = call(
        "POST", "/messages", 202, json={"patient_id": pid, "channel": "clinic", "body": OUTBOUND}
    )
    wait_until(
        lambda: call("GET", f"/messages/{sent['id']}", 200)["status"] == "delivered",
        WAIT,
        "the text to be delivered",
    )
    texted_in = http.post(
        f"{base}/simulator/_control/inbound", json={"from": phone, "to": sender, "body": INBOUND}
    )
    assert texted_in.status_code == 200, texted_in.text
    wait_until(
        lambda: any(
            m["direction"] == "inbound" and m["body"] == INBOUND
            for m in call("GET", f"/patients/{pid}/messages", 200)
        ),
        WAIT,
        "the patient's reply to be stored",
    )
    call("GET", "/messages", 200, params={"patient_id": pid})


def _leaks(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def _record_text(record: logging.LogRecord) -> str:
    text = record.getMessage()
    if record.exc_text:
        text += "\n" + record.exc_text
    elif record.exc_info:
        text += "\n" + logging.Formatter().formatException(record.exc_info)
    return text


# --- in process: every log record -------------------------------------------------------------


@pytest.fixture
def uvicorn_loggers() -> Iterator[None]:
    """Put uvicorn's loggers back as they were: the server below configures them."""
    names = ("uvicorn", "uvicorn.error", "uvicorn.access")
    saved = {n: logging.getLogger(n) for n in names}
    state = {n: (lg.level, list(lg.handlers), lg.propagate) for n, lg in saved.items()}
    yield
    for name, logger in saved.items():
        logger.level, logger.handlers, logger.propagate = state[name]


@pytest.mark.timeout(180)
@pytest.mark.usefixtures("uvicorn_loggers")
def test_a_day_of_texting_logs_no_name_number_or_message(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = sqlite_url(tmp_path)
    upgrade(url)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        org = orgs.create_org(session, "Log Clinic", actor="test")
        key = orgs.create_api_key(session, org.id, actor="test").key
    engine.dispose()

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    app = create_app(Settings(database_url=url, public_url=base), dispatcher=True)
    # As `clinictext serve` runs it: uvicorn's own logging configuration, at INFO.
    server = uvicorn.Server(uvicorn.Config(app, log_level="info", timeout_graceful_shutdown=3))
    caplog.set_level(logging.INFO)
    for name in ("uvicorn", "uvicorn.access"):  # they do not propagate to the root logger
        logging.getLogger(name).addHandler(caplog.handler)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, WAIT, "the server to start")
        with httpx.Client(timeout=30) as http:
            _run_a_day(http, base, key, fresh_sender())
    finally:
        server.should_exit = True
        thread.join(WAIT)
        sock.close()
        for name in ("uvicorn", "uvicorn.access"):
            logging.getLogger(name).removeHandler(caplog.handler)

    main = threading.main_thread().ident
    server_records = [
        r
        for r in caplog.records
        # The test's own HTTP client logs each URL it calls; it is not the server.
        if not (r.name.startswith(("httpx", "httpcore")) and r.thread == main)
    ]
    assert all(r.levelno >= logging.INFO for r in server_records)
    access = [r.getMessage() for r in server_records if r.name == "uvicorn.access"]
    assert any('"GET /api/v1/patients' in line for line in access), access
    assert any("/webhooks/twilio/status" in line for line in access), access
    leaks = {
        f"{r.name}: {_record_text(r)[:300]}": _leaks(_record_text(r))
        for r in server_records
        if _leaks(_record_text(r))
    }
    assert not leaks, leaks


# --- `clinictext serve`: what it prints -------------------------------------------------------


@pytest.mark.timeout(180)
def test_serve_prints_no_name_number_or_message(tmp_path: Path) -> None:
    with running_server(sqlite_url(tmp_path), tmp_path) as server:
        org = server.cli_json("org", "create", "--name", "Log Clinic")
        key = server.cli_json("apikey", "create", "--org", str(org["id"]))["key"]
        _run_a_day(server.http, server.base, key, fresh_sender())
        printed = wait_until(
            lambda: (
                (text := server.log.read_text(errors="replace"))
                and '"GET /api/v1/messages' in text
                and text
            ),
            WAIT,
            "the last request's access line",
            lambda: server.log_text(),
        )
    assert '"GET /api/v1/patients' in printed, printed[-2000:]
    leaked = [line for line in printed.splitlines() if _leaks(line)]
    assert not leaked, leaked
