"""Fixtures: real databases (a SQLite file and a throwaway PostgreSQL), the app, orgs."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from clinictext.api.app import create_app
from clinictext.config import Settings
from clinictext.services import orgs
from clinictext.store.db import make_engine, session_factory, transaction, upgrade
from clinictext.store.models import Base
from tests.pg import PostgresServer, PostgresUnavailable, start_server

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    try:
        server = start_server()
    except PostgresUnavailable as err:
        pytest.fail(f"PostgreSQL tests cannot run: {err}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_template_url(pg_server: PostgresServer) -> str:
    """A migrated database, created once; each test empties it before use."""
    admin = create_engine(pg_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE clinictext_test"))
    admin.dispose()
    url = pg_server.url("clinictext_test")
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade(f"sqlite:///{path}")  # its engine is disposed, so the WAL is folded in
    return path


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A freshly migrated, empty database: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "clinictext.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_template_url")
    _empty_postgres(url)
    return url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    return session_factory(engine)


@pytest.fixture
def client(db_url: str) -> Iterator[TestClient]:
    app = create_app(Settings(database_url=db_url), simulator=False)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@dataclass
class Org:
    id: int
    key: str
    client: TestClient

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get("/api/v1" + path, headers=self.headers, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.post("/api/v1" + path, json=json, headers=self.headers, **kw)

    def put(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.put("/api/v1" + path, json=json, headers=self.headers, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.client.patch("/api/v1" + path, json=json, headers=self.headers, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.client.delete("/api/v1" + path, headers=self.headers, **kw)


@pytest.fixture
def make_org(factory: sessionmaker[Session], client: TestClient) -> Any:
    """Create an organization and an API key for it; returns an ``Org`` bound to the client."""

    def make(name: str = "Clinic") -> Org:
        with transaction(factory) as session:
            org = orgs.create_org(session, name, actor="test")
            key = orgs.create_api_key(session, org.id, actor="test")
        return Org(org.id, key.key, client)

    return make


@pytest.fixture
def ready_org(make_org: Any) -> Org:
    """An organization set up to text: SMS on, registration approved, verified numbers."""
    org: Org = make_org("Ready Clinic")
    assert (
        org.patch(
            "/org",
            {
                "sms_enabled": True,
                "messaging_registration": "approved",
                "clinic_phone": "+14155550100",
            },
        ).status_code
        == 200
    )
    assert org.post("/numbers", {"number": "+15005550006", "purpose": "lead"}).status_code == 201
    assert org.post("/numbers", {"number": "+14155550100", "purpose": "clinic"}).status_code == 201
    return org


def count_rows(factory: sessionmaker[Session]) -> dict[str, int]:
    """How many rows every table holds: to prove a refused request wrote nothing."""
    with factory() as session:
        return {
            t.name: session.scalar(select(func.count()).select_from(t)) or 0
            for t in Base.metadata.sorted_tables
        }


@pytest.fixture
def rows(factory: sessionmaker[Session]) -> Any:
    return lambda: count_rows(factory)
