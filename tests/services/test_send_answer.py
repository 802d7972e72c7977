"""The answer to ``POST /messages`` is built from what the send holds, not read back.

It must be exactly the message as ``GET /messages/{id}`` shows it afterwards, for a text
queued now and for one held (send window or frequency cap), and reading the rows just
written would cost statements on the send path for nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from clinictext.store.db import transaction
from clinictext.store.models import Organization
from tests.api.helpers import textable_patient
from tests.conftest import Org
from tests.support import counting

# Besides the send path's own statements (tests/services/test_send_path_statements.py),
# the answer reads only the connector's state, which a pending text's diagnosis shows.
ANSWER_READS = ("provider_attempts",)


def _statements(org: Org, payload: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    engine = org.client.app.state.engine  # type: ignore[attr-defined]
    with counting(engine) as seen:
        r = org.post("/messages", payload)
    assert r.status_code == 202, r.text
    return r.json(), seen


@pytest.mark.parametrize("channel", ["clinic", "lead"])
def test_the_answer_is_the_message_as_it_reads_afterwards(ready_org: Org, channel: str) -> None:
    pid = textable_patient(ready_org)
    answer, _ = _statements(ready_org, {"patient_id": pid, "channel": channel, "body": "Hi"})
    assert answer["status"] == "queued" and len(answer["history"]) == 1
    assert answer == ready_org.get(f"/messages/{answer['id']}").json()


def test_a_held_texts_answer_is_the_message_as_it_reads_afterwards(
    ready_org: Org, factory: sessionmaker[Session]
) -> None:
    """Automated texts wait for the send window and the frequency cap: the second of a
    day over a cap of one is held, with the reason in its first history entry."""
    with transaction(factory) as s:
        org = s.get(Organization, ready_org.id)
        assert org is not None
        org.automated_daily_cap, org.automated_weekly_cap = 1, 7
    pid = textable_patient(ready_org)
    payload = {"patient_id": pid, "channel": "clinic", "body": "Reminder", "kind": "automated"}
    answers = [_statements(ready_org, payload)[0] for _ in range(2)]
    held = answers[1]
    assert held["status"] == "scheduled", held
    assert held["history"][0]["detail"], held
    assert held["diagnosis"] is not None
    for answer in answers:
        assert answer == ready_org.get(f"/messages/{answer['id']}").json()


def test_the_answer_reads_back_nothing_the_send_wrote(ready_org: Org) -> None:
    pid = textable_patient(ready_org)
    payload = {"patient_id": pid, "channel": "clinic", "body": "Your results are ready."}
    _statements(ready_org, payload)  # the first text of a patient may warm caches
    _, seen = _statements(ready_org, payload)
    # The first write: an INSERT, or on PostgreSQL the one statement of INSERTs in a WITH.
    inserted = next(
        i for i, s in enumerate(seen) if s.lstrip().upper().startswith(("INSERT", "WITH"))
    )
    after = [s for s in seen[inserted:] if s.lstrip().upper().startswith("SELECT")]
    assert all(any(t in s for t in ANSWER_READS) for s in after), "\n".join(after)
    assert len(after) <= 1, "\n".join(after)
