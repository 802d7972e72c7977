"""A serve process works on ``request_threads`` requests at once; the others wait their turn,
and a health check never waits behind them."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from clinictext.api.app import create_app
from clinictext.config import Settings

pytestmark = pytest.mark.timeout(60)


def _threads_now() -> dict[str, float]:
    stats = anyio.to_thread.current_default_thread_limiter().statistics()
    return {"busy": stats.borrowed_tokens, "waiting": stats.tasks_waiting}


def test_requests_beyond_the_threads_wait_and_a_health_check_does_not(db_url: str) -> None:
    app = create_app(Settings(database_url=db_url, request_threads=2), simulator=False)
    release = threading.Event()

    def hold() -> dict[str, bool]:  # a sync route: it runs on a request thread
        return {"released": release.wait(30)}

    async def threads() -> dict[str, float]:  # async: it needs no thread to answer
        return _threads_now()

    app.add_api_route("/_test/hold", hold)
    app.add_api_route("/_test/threads", threads)

    with TestClient(app) as client, ThreadPoolExecutor(max_workers=3) as pool:
        held = [pool.submit(client.get, "/_test/hold") for _ in range(3)]
        try:
            deadline = time.monotonic() + 20
            while (now := client.get("/_test/threads").json()) != {"busy": 2, "waiting": 1}:
                assert time.monotonic() < deadline, f"never two busy and one waiting: {now}"
                time.sleep(0.01)
            # Both request threads are taken, and the check is still answered.
            health = client.get("/healthz")
            assert health.status_code == 200
        finally:
            release.set()
        answers: list[Any] = [f.result(timeout=20) for f in held]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert all(a.json() == {"released": True} for a in answers)


@pytest.mark.parametrize("threads", [0, -1, 41])
def test_request_threads_out_of_range_is_refused(threads: int) -> None:
    with pytest.raises(ValidationError, match="request_threads"):
        Settings(request_threads=threads)
