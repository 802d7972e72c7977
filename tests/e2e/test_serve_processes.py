"""``clinictext serve --processes N``: several server processes on one port (PostgreSQL).

Each process builds its own app and runs its own dispatcher, as a ``clinictext worker``
would: texts sent through any of them are handed to the carrier once each. uvicorn's
supervisor replaces a process that dies and stops them all with the server. Settings
several processes cannot work on are refused before anything starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.harness import (
    CLI_TIMEOUT,
    CLINICTEXT,
    Number,
    _server_env,
    empty_postgres,
    fresh_sender,
    running_server,
    standalone_simulator,
    wait_until,
)
from tests.pg import free_port

pytestmark = pytest.mark.timeout(300)

TEXTS = 30


def serving_processes(parent: int) -> set[int]:
    """The server processes ``parent`` started (uvicorn spawns them through
    multiprocessing), by their parent's id."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        ppid = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("PPid"))
        if ppid == parent and b"spawn_main" in command:
            found.add(int(entry.name))
    return found


def two_processes(parent: int, without: int | None = None) -> set[int] | None:
    found = serving_processes(parent)
    return found if len(found) == 2 and without not in found else None


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in state  # a zombie has exited


def test_several_processes_share_the_port_and_hand_each_text_over_once(
    pg_template_url: str, tmp_path: Path
) -> None:
    empty_postgres(pg_template_url)
    port = free_port()
    with (
        standalone_simulator(tmp_path, port) as carrier,
        running_server(
            pg_template_url,
            tmp_path,
            port=port,
            carrier=carrier,
            serve_args=("--processes", "2"),
        ) as server,
    ):
        parent = server.process.pid
        first = wait_until(
            lambda: two_processes(parent),
            60,
            "two server processes",
            lambda: serving_processes(parent),
        )
        clinic = server.new_clinic("Two processes", [Number(fresh_sender(), mps=50)])
        patients = [clinic.patient() for _ in range(10)]

        def send(n: int) -> int:
            # A connection of its own each: the processes take turns accepting them.
            with httpx.Client(timeout=30) as http:
                answer = http.post(
                    server.base + "/api/v1/messages",
                    json={
                        "patient_id": patients[n % 10].id,
                        "channel": "clinic",
                        "body": f"Reminder {n}",
                    },
                    headers=clinic.headers,
                )
            assert answer.status_code == 202, answer.text
            return int(answer.json()["id"])

        with ThreadPoolExecutor(6) as pool:
            ids = list(pool.map(send, range(TEXTS)))
        assert len(set(ids)) == TEXTS
        clinic.wait_all(ids, {"delivered"}, timeout=90)
        # Each text reached the carrier once, whichever process's dispatcher handed it over.
        bodies = Counter(m["body"] for m in server.carrier_messages())
        assert bodies == Counter(f"Reminder {n}" for n in range(TEXTS))

        # A process that dies is replaced, and the server answers throughout.
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        replaced = wait_until(
            lambda: two_processes(parent, without=victim),
            90,
            "the dead server process to be replaced",
            lambda: serving_processes(parent),
        )
        late = send(TEXTS)
        clinic.wait_for(late, {"delivered"}, timeout=60)
    # Stopping the server stops every process it started.
    for pid in first | replaced:
        wait_until(lambda pid=pid: not alive(pid), 30, f"server process {pid} to stop")


def refused(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLINICTEXT, "serve", "--port", str(free_port()), "--processes", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )


def test_several_processes_need_postgresql(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'clinictext.db'}"
    result = refused(_server_env(url, free_port(), None, carrier="http://127.0.0.1:9"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Several serve processes need PostgreSQL" in " ".join(result.stderr.split())
    assert not (tmp_path / "clinictext.db").exists()  # refused before migrating


def test_several_processes_refuse_the_mounted_simulator(pg_template_url: str) -> None:
    result = refused(_server_env(pg_template_url, free_port(), None))
    assert result.returncode == 2, result.stdout + result.stderr
    said = " ".join(result.stderr.split())
    assert "built-in carrier simulator" in said and "clinictext simulator" in said
