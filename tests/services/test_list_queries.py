"""A page of a list costs the same statements for one item as for fifty."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session, sessionmaker

from clinictext.services import conversation_view, messages, patients
from clinictext.services.clock import utcnow
from clinictext.store.db import transaction
from clinictext.store.models import Message, MessageEvent, ProviderAttempt
from tests.conftest import Org
from tests.support import counting, seed_clinic


def add_history(factory: sessionmaker[Session], org_id: int, pid: int, sender: int, n: int) -> None:
    """``n`` texts to ``pid``, half failed, each with three status events and a provider
    call, from staff users: every detail a page shows is there to load."""
    now = utcnow()
    with transaction(factory) as s:
        for i in range(n):
            at = now + timedelta(seconds=i)
            status = "delivered" if i % 2 else "failed"
            message = Message(
                organization_id=org_id,
                patient_id=pid,
                sender_number_id=sender,
                direction="outbound",
                kind="manual",
                channel="clinic",
                body=f"Text {i}",
                encoding="GSM-7",
                segments=1,
                to_phone="+14155550123",
                from_phone="+15005550006",
                status=status,
                error_code=None if i % 2 else "30003",
                created_by=f"user:{i % 3 + 1}",
                created_at=at,
                updated_at=at,
            )
            s.add(message)
            s.flush()
            s.execute(
                insert(MessageEvent),
                [
                    {"organization_id": org_id, "message_id": message.id, "status": st, "at": at}
                    for st in ("queued", "sent", status)
                ],
            )
            s.add(
                ProviderAttempt(
                    organization_id=org_id,
                    message_id=message.id,
                    operation="send",
                    outcome="ok",
                    elapsed_ms=10,
                    at=at,
                )
            )


@pytest.fixture
def clinic(factory: sessionmaker[Session]) -> Any:
    return seed_clinic(factory, patient_count=2)


def statements_for(engine: Engine, factory: sessionmaker[Session], read: Any) -> int:
    with factory() as s, counting(engine) as statements:
        read(s)
    return len(statements)


READS: dict[str, Any] = {
    "a patient's messages with details": lambda s, org, pid: messages.with_details(
        s, messages.list_messages(s, org, patient_id=pid).items
    ),
    "the organization's failed messages with details": lambda s, org, pid: messages.with_details(
        s, messages.list_messages(s, org, status="failed").items
    ),
    "the conversation page": lambda s, org, pid: conversation_view.conversation(
        s, org, pid, utcnow()
    ),
}


@pytest.mark.parametrize("read", list(READS))
def test_one_message_or_fifty_cost_the_same_statements(
    clinic: Any, factory: sessionmaker[Session], engine: Engine, read: str
) -> None:
    one, fifty = clinic.patient_ids
    add_history(factory, clinic.org_id, one, clinic.sender_ids[0], 1)
    add_history(factory, clinic.org_id, fifty, clinic.sender_ids[0], 50)

    def count(pid: int) -> int:
        return statements_for(engine, factory, lambda s: READS[read](s, clinic.org_id, pid))

    assert count(one) == count(fifty)


def test_a_page_of_details_is_three_statements_however_many(
    clinic: Any, factory: sessionmaker[Session], engine: Engine
) -> None:
    pid = clinic.patient_ids[0]
    add_history(factory, clinic.org_id, pid, clinic.sender_ids[0], 50)
    with factory() as s:
        page = messages.list_messages(s, clinic.org_id, patient_id=pid).items
        assert len(page) == 50
        with counting(engine) as statements:
            details = messages.with_details(s, page)
    assert len(statements) == 3  # events, provider calls, senders: one IN list each
    assert all(len(d.events) == 3 and len(d.attempts) == 1 and d.sender for d in details)


def test_a_name_search_is_one_statement_for_one_match_or_fifty(
    ready_org: Org, factory: sessionmaker[Session], engine: Engine
) -> None:
    for i in range(50):
        ready_org.post("/patients", {"first_name": f"P{i}", "last_name": "Many"})
    ready_org.post("/patients", {"first_name": "Only", "last_name": "One"})

    def search(q: str) -> int:
        with factory() as s, counting(engine) as statements:
            page = patients.list_patients(s, ready_org.id, q=q, limit=50)
        assert len(page.items) == (1 if q == "one" else 50)
        return len(statements)

    # The organization (its country reads a phone number), then the page (and on SQLite
    # its BEGIN).
    assert search("one") == search("many") <= 3


@pytest.mark.parametrize(
    "path", ["/patients/{pid}/messages?limit=50", "/messages?patient_id={pid}&limit=50"]
)
def test_a_message_page_over_http_costs_the_same_for_one_or_fifty(
    ready_org: Org, factory: sessionmaker[Session], path: str
) -> None:
    engine = ready_org.client.app.state.engine  # type: ignore[attr-defined]
    ids = []
    for phone in ("(415) 555-0123", "(415) 555-0124"):
        r = ready_org.post("/patients", {"first_name": "Pat", "last_name": "Test", "phone": phone})
        ids.append(r.json()["id"])
    sender = ready_org.get("/numbers").json()[0]["id"]
    add_history(factory, ready_org.id, ids[0], sender, 1)
    add_history(factory, ready_org.id, ids[1], sender, 50)

    def statements(pid: int, expected: int) -> int:
        with counting(engine) as run:
            r = ready_org.get(path.format(pid=pid))
        assert r.status_code == 200, r.text
        assert len(r.json()) == expected
        return len(run)

    assert statements(ids[0], 1) == statements(ids[1], 50)
