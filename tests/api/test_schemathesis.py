"""Property-based API fuzzing: whatever schemathesis sends, in or out of the OpenAPI
document's shapes, the API answers without a 5xx, and with a status and a body that the
document lists for that operation (the error answers are added in api/errors.py).

In process (the ASGI app itself, on SQLite), authenticated as a test organization that has
a patient, a message and a number for the generated ids to find. Bounded: a few examples per
operation, derandomized so that a run is repeatable.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from clinictext.api.app import create_app
from clinictext.config import Settings
from clinictext.services import orgs
from clinictext.store.db import make_engine, session_factory, transaction, upgrade

EXAMPLES_PER_OPERATION = 12
# The schema is read from the app when this module is imported (schemathesis's lazy
# fixture loader does not work with this pytest), so the app is built here on a database
# file that the fixture below creates, seeds and removes.
DB_PATH = Path(tempfile.gettempdir()) / f"clinictext-schemathesis-{os.getpid()}.db"
APP = create_app(Settings(database_url=f"sqlite:///{DB_PATH}"), simulator=False)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


def _remove_database() -> None:
    for suffix in ("", "-wal", "-shm"):
        DB_PATH.with_name(DB_PATH.name + suffix).unlink(missing_ok=True)


@pytest.fixture(scope="module")
def api_headers() -> Iterator[dict[str, str]]:
    """The headers of a test organization with a number, a patient and a message."""
    _remove_database()
    url = f"sqlite:///{DB_PATH}"
    upgrade(url)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        org = orgs.create_org(session, "Fuzz Clinic", actor="test")
        key = orgs.create_api_key(session, org.id, actor="test").key
    engine.dispose()
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(APP) as client:  # rows for the generated ids to find
        for method, path, body in [
            ("PATCH", "/org", {"sms_enabled": True, "messaging_registration": "approved"}),
            ("POST", "/numbers", {"number": "+15005550006", "purpose": "clinic"}),
            (
                "POST",
                "/patients",
                {"first_name": "Ana", "last_name": "Diaz", "phone": "4155550123"},
            ),
            (
                "POST",
                "/patients/1/consent",
                {"action": "opt_in", "level": "marketing", "source": "api"},
            ),
            ("POST", "/messages", {"patient_id": 1, "channel": "clinic", "body": "Hello"}),
        ]:
            answer = client.request(method, "/api/v1" + path, json=body, headers=headers)
            assert answer.status_code < 300, answer.text
        yield headers
    APP.state.engine.dispose()
    _remove_database()


@pytest.mark.timeout(300)
@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_documented_and_none_is_a_server_error(
    case: Any, api_headers: dict[str, str]
) -> None:
    """No 5xx; and every answer's status and body are the ones the document lists."""
    case.call_and_validate(
        headers=api_headers,
        checks=[not_a_server_error, status_code_conformance, response_schema_conformance],
    )
