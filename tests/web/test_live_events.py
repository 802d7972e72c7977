"""The live-update stream reads the database, so it keeps working with several ``serve``
replicas: a page held open on one replica hears about a text sent through another, its
delivery, and a patient's reply. It ends when the sign-in ends."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import (
    CLI_TIMEOUT,
    CLINICTEXT,
    Number,
    Server,
    empty_postgres,
    fresh_phone,
    fresh_sender,
    running_server,
    wait_until,
)
from tests.web.browser import add_user, signed_in_http


class Stream:
    """The event names one ``/events`` stream has sent so far, read in a thread."""

    def __init__(self, http: httpx.Client, query: str) -> None:
        self.events: list[str] = []
        self.status: int | None = None
        self.closed = threading.Event()
        self._http = http
        self._query = query
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            with self._http.stream("GET", "/events" + self._query, timeout=60) as answer:
                self.status = answer.status_code
                for line in answer.iter_lines():
                    if line.startswith("event: "):
                        self.events.append(line.removeprefix("event: "))
        except httpx.HTTPError:
            pass
        finally:
            self.closed.set()

    def count(self, name: str) -> int:
        return self.events.count(name)

    def wait_for_more(self, name: str, than: int, what: str) -> None:
        wait_until(lambda: self.count(name) > than, 30, what, lambda: self.events)


@contextmanager
def two_replicas(pg_url: str, workdir: Path) -> Iterator[tuple[Server, Server]]:
    """Two ``serve`` processes on one PostgreSQL database; only the second one sends."""
    empty_postgres(pg_url)
    with (
        running_server(pg_url, workdir, log_name="a.log", serve_args=["--no-dispatch"]) as a,
        running_server(pg_url, workdir, log_name="b.log") as b,
    ):
        yield a, b


@pytest.mark.postgres
@pytest.mark.timeout(180)
def test_a_page_open_on_one_replica_hears_what_happens_through_another(
    pg_template_url: str, tmp_path: Path
) -> None:
    with two_replicas(pg_template_url, tmp_path) as (a, b):
        clinic = b.new_clinic(
            "Two Replicas", [Number(fresh_sender(), "lead"), Number(fresh_sender(), "clinic")]
        )
        staff = add_user(b, clinic, "staff")
        patient = clinic.patient(fresh_phone())
        with closing(signed_in_http(a.base, staff.email, staff.password)) as http:
            stream = Stream(http, f"?patient={patient.id}")
            wait_until(lambda: stream.status, 30, "the stream to open on replica A")
            assert stream.status == 200

            # A text sent through replica B, handed over and delivered by B's dispatcher.
            before = stream.count("conversation")
            message_id = clinic.send(patient, "Your appointment is tomorrow at 10.", "clinic")
            stream.wait_for_more("conversation", before, "the new text to reach A's stream")
            delivered = clinic.wait_for(message_id, {"delivered"})
            assert delivered["status"] == "delivered"
            # Queued, sent and delivered may fold into fewer events, but the final state
            # always produces one after it is written.
            settled = stream.count("conversation")
            stream.wait_for_more("inbox", 0, "the inbox topic to change")

            # A reply through B's carrier: the conversation and the inbox both hear of it.
            before_inbox = stream.count("inbox")
            sender = clinic.get("/numbers")[1]["number"]
            b.sim("/inbound", {"from": patient.phone, "to": sender, "body": "Thanks, see you!"})
            stream.wait_for_more("inbox", before_inbox, "the reply to reach A's inbox topic")
            stream.wait_for_more("conversation", settled, "the reply in the conversation")
            assert not stream.closed.is_set()


@pytest.mark.timeout(120)
def test_the_stream_ends_when_the_user_is_disabled(server: Server) -> None:
    clinic = server.new_clinic("Stream Ends", [Number(fresh_sender(), "clinic")])
    staff = add_user(server, clinic, "staff")
    with closing(signed_in_http(server.base, staff.email, staff.password)) as http:
        stream = Stream(http, "")
        wait_until(lambda: stream.status, 30, "the stream to open")
        subprocess.run(
            [CLINICTEXT, "user", "disable", "--org", str(clinic.org_id), "--email", staff.email],
            env=server.env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=True,
        )
        assert stream.closed.wait(30), stream.events
        assert stream.events[-1] == "signed_out"


def test_the_stream_needs_a_sign_in(server: Server) -> None:
    answer = httpx.get(server.base + "/events", timeout=30, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
