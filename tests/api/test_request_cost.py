"""What a small request costs the database, and what the health check still proves.

The health check is answered ahead of the framework, but only once a probe of the database
begun after it arrived has answered; checks arriving together share one probe. An
authenticated one-lookup request runs a fixed number of statements. The pages keep their
security headers and ``Server-Timing`` without a ``BaseHTTPMiddleware``; API answers get
neither. (How fast these are is measured by the benchmarks, not asserted here.)
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import event

from clinictext import __version__
from clinictext.api import middleware
from clinictext.api.app import create_app
from clinictext.api.deps import CallerDep, each_a_unit_of_work
from clinictext.config import Settings
from clinictext.services import orgs
from clinictext.store.db import session_factory, transaction
from tests.api.test_query_count import counting
from tests.conftest import Org


def _probes(statements: list[str]) -> int:
    return sum(1 for s in statements if s.strip().upper() == "SELECT 1")


def test_each_health_check_waits_for_a_probe_of_the_database(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with counting(engine) as statements:
        answers = [client.get("/healthz") for _ in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert answers[0].json() == {"status": "ok", "version": __version__}
    assert answers[0].headers["content-type"] == "application/json"
    assert _probes(statements) == 5  # one after another: none can share


def test_health_checks_arriving_together_share_probes(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    with counting(engine) as statements, ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda _: client.get("/healthz"), range(60)))
    assert {a.status_code for a in answers} == {200}
    assert 1 <= _probes(statements) <= 60


def test_a_health_check_is_not_held_up_by_a_writer(client: TestClient) -> None:
    factory = session_factory(client.app.state.engine)  # type: ignore[attr-defined]
    with transaction(factory) as session:  # holds SQLite's write lock until the block ends
        orgs.create_org(session, "Writer", actor="test")
        session.flush()
        answer = client.get("/healthz")
    assert answer.status_code == 200, answer.text


def test_a_health_check_with_a_query_is_answered_by_the_route(client: TestClient) -> None:
    answer = client.get("/healthz", params={"from": "balancer"})
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "version": __version__}


def test_an_unreachable_database_fails_the_fast_health_check_too(tmp_path: Any) -> None:
    missing = tmp_path / "no-such-dir" / "clinictext.db"
    app = create_app(Settings(database_url=f"sqlite:///{missing}"), simulator=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        answers = [client.get("/healthz") for _ in range(3)]
    assert [a.status_code for a in answers] == [503] * 3
    assert answers[0].json()["error"]["code"] == "database_unavailable"
    assert int(answers[0].headers["Retry-After"]) > 0


def test_an_authenticated_lookup_runs_two_queries(ready_org: Org) -> None:
    engine = ready_org.client.app.state.engine  # type: ignore[attr-defined]
    with counting(engine) as statements:
        answer = ready_org.get("/org")
    assert answer.status_code == 200
    queries = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(queries) == 2, queries  # the key, then the organization


def test_an_authenticated_request_is_one_connection_and_one_transaction(ready_org: Org) -> None:
    """The key is looked up in the route's own transaction, not in one of its own."""
    engine = ready_org.client.app.state.engine  # type: ignore[attr-defined]
    checkouts: list[object] = []
    begins: list[object] = []

    def checked_out(*_: object) -> None:
        checkouts.append(_)

    def began(conn: object) -> None:
        begins.append(conn)

    event.listen(engine, "checkout", checked_out)
    event.listen(engine, "begin", began)
    try:
        answers = [
            ready_org.get("/org"),
            ready_org.post("/patients", {"first_name": "Ana", "last_name": "Diaz"}),
        ]
    finally:
        event.remove(engine, "checkout", checked_out)
        event.remove(engine, "begin", began)
    assert [a.status_code for a in answers] == [200, 201]
    assert len(checkouts) == 2 and len(begins) == 2


def test_no_route_takes_a_caller_it_cannot_check(db_url: str) -> None:
    """An async route, or one without a session, has no transaction to check a key in."""
    router = APIRouter()

    @router.get("/_test/caller")
    async def caller_only(caller: CallerDep) -> dict[str, int]:
        return {"org": caller.org_id}

    with pytest.raises(TypeError, match="CallerNowDep"):
        each_a_unit_of_work(router)


def test_pages_carry_security_headers_and_server_timing_and_api_answers_do_not(
    ready_org: Org,
) -> None:
    page = ready_org.client.get("/login")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["server-timing"].startswith("app;dur=")
    api = ready_org.get("/org")
    assert "server-timing" not in api.headers
    assert "content-security-policy" not in api.headers


def _access_record(path: str, status: int) -> logging.LogRecord:
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", status),
        None,
    )


def test_passing_health_checks_are_left_out_of_the_access_log_and_failing_ones_kept() -> None:
    log = middleware.ACCESS_LOG_FILTER
    assert not log.filter(_access_record("/healthz", 200))
    assert log.filter(_access_record("/healthz", 503))
    assert log.filter(_access_record("/healthz?from=balancer", 503))
    assert log.filter(_access_record("/api/v1/org", 200))
