"""A page of messages costs the same statements for five texts as for fifty, and the
answer built without validation is exactly what a validated one gives.

The page mixes every kind of status a patient's history holds (delivered, failed,
received, queued): a pending text's diagnosis reads the sender numbers, the organization
and the connector, once per page however many pending texts it shows; a page without a
pending text reads none of the three.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from clinictext.api.schemas import MessageOut
from clinictext.services import messages
from clinictext.services.clock import utcnow
from clinictext.store.db import transaction
from clinictext.store.models import Message, MessageEvent, ProviderAttempt
from tests.api.helpers import textable_patient
from tests.conftest import Org
from tests.support import counting

# The API key; the page; its status events and provider calls (one IN list each); the
# pending texts' senders, the organization and the connector for their diagnosis.
STATEMENTS_WITH_PENDING = 7
# The key, the page, its status events, its provider calls.
STATEMENTS_WITHOUT_PENDING = 4

FINAL = ("delivered", "failed", "undelivered", "sent", "canceled")


def add_texts(org: Org, pid: int, factory: sessionmaker[Session], n: int, pending: bool) -> None:
    """``n`` texts on both channels; with ``pending`` every fourth stays queued, the others
    reach a final status with a longer history and a provider call."""
    for i in range(n):
        channel = "clinic" if i % 2 else "lead"
        r = org.post("/messages", {"patient_id": pid, "channel": channel, "body": f"Text {i}"})
        assert r.status_code == 202, r.text
        if pending and i % 4 == 0:
            continue
        mid = r.json()["id"]
        with transaction(factory) as s:
            message = s.get(Message, mid)
            assert message is not None
            at = utcnow() + timedelta(seconds=1)
            status = FINAL[i % len(FINAL)]
            message.status = status
            message.provider_id = f"SM{mid:032d}"
            if status in ("failed", "undelivered"):
                message.error_code, message.error_message = "30003", "Unreachable handset"
            s.add_all(
                [
                    MessageEvent(organization_id=org.id, message_id=mid, status="sending", at=at),
                    MessageEvent(organization_id=org.id, message_id=mid, status=status, at=at),
                    ProviderAttempt(
                        organization_id=org.id,
                        message_id=mid,
                        operation="send",
                        outcome="ok",
                        http_status=201,
                        elapsed_ms=12,
                        request={"to": "redacted"},
                        response={"sid": message.provider_id},
                        at=at,
                    ),
                ]
            )


def _page(org: Org, path: str, expected: int) -> tuple[list[dict[str, Any]], list[str]]:
    engine = org.client.app.state.engine  # type: ignore[attr-defined]
    with counting(engine) as seen:
        r = org.get(path)
    assert r.status_code == 200, r.text
    page = r.json()
    assert len(page) == expected
    return page, [s for s in seen if s.split()[0].upper() not in ("BEGIN", "COMMIT")]


def _as_validated(item: dict[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in item.items() if k != "from"} | {"from_": item["from"]}
    return MessageOut.model_validate(fields).model_dump(mode="json", by_alias=True)


PATHS = {
    "messages": lambda pid: "/messages?limit=50",
    "patient_messages": lambda pid: f"/patients/{pid}/messages?limit=50",
}


@pytest.mark.parametrize("listing", list(PATHS))
@pytest.mark.parametrize("pending", [True, False], ids=["with_pending", "without_pending"])
def test_a_page_of_five_or_fifty_costs_the_same_statements(
    ready_org: Org, factory: sessionmaker[Session], listing: str, pending: bool
) -> None:
    pid = textable_patient(ready_org)
    path = PATHS[listing](pid)
    expected = STATEMENTS_WITH_PENDING if pending else STATEMENTS_WITHOUT_PENDING
    add_texts(ready_org, pid, factory, 5, pending)
    _, few_statements = _page(ready_org, path, 5)
    add_texts(ready_org, pid, factory, 45, pending)
    many, many_statements = _page(ready_org, path, 50)
    assert len(few_statements) == expected, "\n".join(few_statements)
    assert len(many_statements) == expected, "\n".join(many_statements)
    statuses = {m["status"] for m in many}
    assert ("queued" in statuses) is pending, statuses
    assert any(m["diagnosis"] for m in many) and any(m["attempts"] for m in many)
    for item in many:
        assert item == _as_validated(item)


def test_an_unknown_patients_messages_are_not_found(ready_org: Org) -> None:
    r = ready_org.get("/patients/999999/messages")
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "patient_not_found"


def test_a_patient_without_messages_has_an_empty_page(ready_org: Org) -> None:
    pid = textable_patient(ready_org)
    assert ready_org.get(f"/patients/{pid}/messages").json() == []


def test_a_pages_details_are_those_of_every_other_reader(
    ready_org: Org, factory: sessionmaker[Session]
) -> None:
    """A page's details are ``with_details``'s (the conversation view's), but for the
    sender numbers: loaded only for pending texts, the only ones whose diagnosis reads
    one."""
    pid = textable_patient(ready_org)
    add_texts(ready_org, pid, factory, 12, pending=True)
    with factory() as s:
        page = messages.list_messages(s, ready_org.id, patient_id=pid).items
        one = messages.page_details(s, page)
        each = messages.with_details(s, page)
    assert [(d.message.id, d.events, d.attempts) for d in one] == [
        (d.message.id, d.events, d.attempts) for d in each
    ]
    assert sum(len(d.attempts) for d in one) == 9
    pending = [d for d in one if d.message.status == "queued"]
    assert pending and all(d.sender is not None for d in pending)
