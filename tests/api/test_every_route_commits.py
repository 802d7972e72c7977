"""Every synchronous route, of the API and of the web pages, is one unit of work: its
transaction commits before its answer is sent. A route included from a sub-router is
checked too (once, such routes were left out and answered "Saved." with nothing saved)."""

from __future__ import annotations

import inspect

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from clinictext.api.deps import api_routes, each_a_unit_of_work


def test_every_sync_route_of_the_app_commits_before_it_answers(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    routes = list(api_routes(app.routes))
    assert len(routes) > 100
    sync = [r for r in routes if not inspect.iscoroutinefunction(r.endpoint)]
    missing = [
        f"{sorted(r.methods)} {r.path}" for r in sync if not getattr(r.endpoint, "unit_of_work", 0)
    ]
    assert missing == []


def test_routes_of_an_included_router_are_wrapped_too() -> None:
    inner, outer = APIRouter(), APIRouter()

    @inner.post("/save")
    def save() -> dict[str, bool]:
        return {"ok": True}

    outer.include_router(inner)
    each_a_unit_of_work(outer)
    [route] = list(api_routes(outer.routes))
    assert getattr(route.endpoint, "unit_of_work", False)
    app = FastAPI()
    app.include_router(outer)
    assert TestClient(app).post("/save").json() == {"ok": True}
