"""A real ``clinictext serve`` for end-to-end tests: one process, spoken to over real HTTP.

The server runs the REST API, the Twilio webhooks, the dispatcher and the carrier
simulator (mounted at ``/simulator``): the Twilio adapter talks HTTP to the simulator and
the simulator posts signed status callbacks back, so nothing is mocked.

    with running_server(sqlite_url(tmp_path), tmp_path) as server:
        clinic = server.new_clinic("Clinic", [Number("+15005550006")])
        patient = clinic.patient()
        message_id = clinic.send(patient, "See you at 3pm")
        clinic.wait_for(message_id, {"delivered"})

Organizations and API keys are created with the command line (``clinictext org create``,
``clinictext apikey create``), everything else through the API. The server is always
stopped (SIGTERM, then kill) when the ``with`` block ends. Waits poll with a deadline;
none of them is an assertion by itself.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import create_engine, text

from clinictext.store.models import Base
from tests.pg import free_port

CLINICTEXT = str(Path(sys.executable).with_name("clinictext"))
STARTUP_TIMEOUT = 90.0  # a bound, not a wait: a loaded machine may take this long
STOP_TIMEOUT = 15.0
CLI_TIMEOUT = 60.0
DEFAULT_WAIT = 20.0
POLL = 0.1

# The simulator's fixed credentials (clinictext.providers.factory).
SIMULATOR_ACCOUNT_SID = "AC" + "0" * 32
SIMULATOR_AUTH_TOKEN = "simulator-auth-token"

FINAL = frozenset({"delivered", "undelivered", "failed", "canceled", "received"})
RANK = {
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "undelivered": 4,
    "failed": 4,
    "canceled": 4,
    "received": 4,
}

T = TypeVar("T")

# Patient phones: valid US numbers no test shares, so one test's carrier side effects
# (opt-outs, landline flags) never reach another's patients.
_phones = itertools.count(1)


def fresh_phone() -> str:
    n = next(_phones)
    return f"+1415{200 + n // 10000:03d}{n % 10000:04d}"


_senders = itertools.count(101)


def fresh_sender() -> str:
    """A sender number no other clinic of the test run uses (+15005550006 is the first)."""
    return f"+1415555{next(_senders):04d}"


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'clinictext.db'}"


def empty_postgres(url: str) -> None:
    """Empty every table of the shared test database (other tests leave rows behind)."""
    engine = create_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    try:
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


def wait_until(
    probe: Callable[[], T | None], timeout: float, what: str, last: Callable[[], Any] = lambda: ""
) -> T:
    """Poll ``probe`` until it returns something truthy; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {last()}")
        time.sleep(POLL)


# --- the server -------------------------------------------------------------------------------


@dataclass
class Number:
    """A sender number to add to a clinic."""

    number: str
    purpose: str = "clinic"
    kind: str = "long_code"
    mps: int = 1


@dataclass
class Patient:
    id: int
    phone: str


@dataclass
class Server:
    base: str
    db_url: str
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))
    carrier: str | None = None  # a standalone simulator's URL; else the mounted one

    @property
    def simulator_url(self) -> str:
        return self.carrier or self.base + "/simulator"

    # -- the command line, against the server's database ---------------------------------------

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [CLINICTEXT, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"clinictext {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def cli_json(self, *args: str) -> Any:
        result = self.cli(*args, "--json")
        return json.loads(result.stdout.strip().splitlines()[-1])

    # -- the simulator's control API -----------------------------------------------------------

    def sim(
        self, path: str, json: Any = None, *, method: str | None = None, params: Any = None
    ) -> Any:
        """Call ``/simulator/_control{path}``: POST when ``json`` is given, else GET."""
        verb = method or ("POST" if json is not None else "GET")
        answer = self.http.request(
            verb, f"{self.simulator_url}/_control{path}", json=json, params=params, timeout=60
        )
        assert answer.status_code == 200, f"{verb} /_control{path}: {answer.text}"
        return answer.json()

    def reset_simulator(self) -> None:
        self.sim("/reset", {})

    def carrier_messages(self, to: str | None = None) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = self.sim("/messages", params={"to": to} if to else None)
        return rows

    # -- clinics -------------------------------------------------------------------------------

    def new_clinic(self, name: str, numbers: Iterable[Number] = ()) -> Clinic:
        """An organization set up to text: created by the CLI, configured by the API."""
        org = self.cli_json("org", "create", "--name", name)
        key = self.cli_json("apikey", "create", "--org", str(org["id"]))
        clinic = Clinic(self, int(org["id"]), key["key"])
        clinic.call(
            "PATCH",
            "/org",
            {"sms_enabled": True, "messaging_registration": "approved"},
            expect=200,
        )
        for n in numbers:
            clinic.add_number(n)
        return clinic

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@dataclass
class Clinic:
    server: Server
    org_id: int
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def call(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        params: Any = None,
        expect: int | None,
        timeout: float = 30.0,
    ) -> httpx.Response:
        answer = self.server.http.request(
            method,
            self.server.base + "/api/v1" + path,
            json=json,
            params=params,
            headers=self.headers,
            timeout=timeout,
        )
        if expect is not None:
            assert answer.status_code == expect, f"{method} {path}: {answer.text}"
        return answer

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params or None, expect=200).json()

    def post(self, path: str, json: Any = None, expect: int | None = None) -> httpx.Response:
        return self.call("POST", path, json, expect=expect)

    def add_number(self, n: Number) -> dict[str, Any]:
        body = {"number": n.number, "purpose": n.purpose, "kind": n.kind, "mps": n.mps}
        row: dict[str, Any] = self.post("/numbers", body, expect=201).json()
        return row

    def patient(self, phone: str | None = None, *, consent: bool = True) -> Patient:
        """A patient with a valid wireless phone (a fresh one unless given), opted in."""
        body = {"first_name": "Pat", "last_name": "Test", "phone": phone or fresh_phone()}
        data = self.post("/patients", body, expect=201).json()
        assert data["phone_status"] == "valid", data
        if consent:
            self.post(
                f"/patients/{data['id']}/consent",
                {"action": "opt_in", "level": "marketing", "source": "web_form", "evidence": "e2e"},
                expect=201,
            )
        return Patient(int(data["id"]), data["phone"])

    def send(self, patient: Patient | int, body: str, channel: str = "clinic") -> int:
        """Queue a text (asserting 202); its message id."""
        pid = patient.id if isinstance(patient, Patient) else patient
        answer = self.post(
            "/messages", {"patient_id": pid, "channel": channel, "body": body}, expect=202
        )
        return int(answer.json()["id"])

    def message(self, message_id: int) -> dict[str, Any]:
        data: dict[str, Any] = self.get(f"/messages/{message_id}")
        return data

    def wait_for(
        self, message_id: int, statuses: Iterable[str], timeout: float = DEFAULT_WAIT
    ) -> dict[str, Any]:
        """Poll GET /messages/{id} until its status is one of ``statuses``; the message."""
        wanted = set(statuses)
        seen: dict[str, Any] = {}

        def probe() -> dict[str, Any] | None:
            seen.update(self.message(message_id))
            return dict(seen) if seen["status"] in wanted else None

        return wait_until(
            probe,
            timeout,
            f"message {message_id} to be {sorted(wanted)}",
            lambda: {k: seen.get(k) for k in ("status", "error_code", "history")},
        )

    def wait_all(
        self, ids: Iterable[int], statuses: Iterable[str], timeout: float = DEFAULT_WAIT
    ) -> dict[int, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        return {i: self.wait_for(i, statuses, max(0.5, deadline - time.monotonic())) for i in ids}

    def connector(self) -> dict[str, Any]:
        data: dict[str, Any] = self.get("/connector")
        return data


# --- starting and stopping -------------------------------------------------------------------


def _server_env(
    db_url: str, port: int, seed: int | None, carrier: str | None = None
) -> dict[str, str]:
    env = {
        **os.environ,
        "CLINICTEXT_DATABASE_URL": db_url,
        "CLINICTEXT_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "CLINICTEXT_PROVIDER": "simulator",
        "COLUMNS": "200",
    }
    for name in ("CLINICTEXT_TWILIO_ACCOUNT_SID", "CLINICTEXT_TWILIO_AUTH_TOKEN"):
        env.pop(name, None)
    if carrier is not None:  # the Twilio adapter, speaking to a standalone simulator
        env.update(
            {
                "CLINICTEXT_PROVIDER": "twilio",
                "CLINICTEXT_TWILIO_ACCOUNT_SID": SIMULATOR_ACCOUNT_SID,
                "CLINICTEXT_TWILIO_AUTH_TOKEN": SIMULATOR_AUTH_TOKEN,
                **{
                    f"CLINICTEXT_TWILIO_{api}_BASE_URL": carrier
                    for api in ("API", "MESSAGING", "NUMBERS")
                },
            }
        )
    if seed is not None:
        env["CLINICTEXT_SIMULATOR_SEED"] = str(seed)
    else:
        env.pop("CLINICTEXT_SIMULATOR_SEED", None)
    return env


def stop(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM, then kill if it does not stop in time."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


@contextmanager
def running_server(
    db_url: str,
    workdir: Path,
    *,
    seed: int | None = None,
    log_name: str = "server.log",
    stop_timeout: float = STOP_TIMEOUT,
    serve_args: Iterable[str] = (),
    port: int | None = None,
    carrier: str | None = None,
) -> Iterator[Server]:
    """Migrate ``db_url`` with the CLI, start ``clinictext serve`` on ``port`` (a free one
    by default), wait for /healthz; always stop the server afterwards (SIGTERM, then kill
    after ``stop_timeout``). With ``carrier``, the URL of a standalone simulator
    (``standalone_simulator``), it sends through the Twilio adapter to that simulator."""
    port = port or free_port()
    env = _server_env(db_url, port, seed, carrier)
    upgrade = subprocess.run(
        [CLINICTEXT, "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    if upgrade.returncode != 0:
        pytest.fail(f"clinictext db upgrade failed:\n{upgrade.stdout}\n{upgrade.stderr}")
    log = workdir / log_name
    with log.open("wb") as out:
        process = subprocess.Popen(
            [CLINICTEXT, "serve", "--host", "127.0.0.1", "--port", str(port), *serve_args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = Server(f"http://127.0.0.1:{port}", db_url, process, log, env, carrier=carrier)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited ({process.returncode}):\n{server.log_text()}")
            try:
                if server.http.get(server.base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"/healthz did not answer in {STARTUP_TIMEOUT:.0f} s:\n{server.log_text()}"
                )
            time.sleep(0.1)
        yield server
    finally:
        server.http.close()
        stop(process, stop_timeout)


@contextmanager
def standalone_simulator(workdir: Path, server_port: int) -> Iterator[str]:
    """``clinictext simulator`` on a free port, its replies posted to the server that will
    listen on ``server_port``; its URL. Always stopped afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = _server_env("sqlite://", server_port, None)
    with (workdir / "simulator.log").open("wb") as out:
        process = subprocess.Popen(
            [CLINICTEXT, "simulator", "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        with httpx.Client(timeout=1) as http:

            def up() -> bool:
                if process.poll() is not None:
                    pytest.fail(f"the simulator exited ({process.returncode})")
                try:
                    return http.get(url + "/_control/chaos").status_code == 200
                except httpx.HTTPError:
                    return False

            wait_until(up, STARTUP_TIMEOUT, "the simulator to answer")
        yield url
    finally:
        stop(process)


@contextmanager
def sqlite_server(
    tmp_path_factory: pytest.TempPathFactory, name: str, stop_timeout: float = STOP_TIMEOUT
) -> Iterator[Server]:
    workdir = tmp_path_factory.mktemp(name)
    with running_server(sqlite_url(workdir), workdir, stop_timeout=stop_timeout) as server:
        yield server


@contextmanager
def postgres_server(pg_template_url: str, workdir: Path) -> Iterator[Server]:
    """A server on the session's PostgreSQL test database, emptied first."""
    empty_postgres(pg_template_url)
    with running_server(pg_template_url, workdir) as server:
        yield server


# --- assertions shared by the test modules ----------------------------------------------------


def statuses(message: dict[str, Any]) -> list[str]:
    return [h["status"] for h in message["history"]]


def assert_history_forward_only(message: dict[str, Any]) -> None:
    """Within each attempt (a retry starts the next), ranks never go down and no status
    appears twice; attempts are numbered 1, 2, ... in order."""
    history = message["history"]
    attempts = [h["attempt"] for h in history]
    assert attempts == sorted(attempts) and attempts[:1] in ([], [1]), history
    for attempt in set(attempts):
        seen = [h["status"] for h in history if h["attempt"] == attempt]
        ranks = [RANK[s] for s in seen]
        assert ranks == sorted(ranks), f"attempt {attempt} goes backwards: {seen}"
        assert len(seen) == len(set(seen)), f"a status is recorded twice: {seen}"
