"""Message lists cost a fixed number of SQL statements, however many messages they show."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from clinictext.services.clock import utcnow
from clinictext.store.db import transaction
from clinictext.store.models import Message, MessageEvent, ProviderAttempt
from tests.api.helpers import textable_patient
from tests.conftest import Org
from tests.support import counting


def add_texts(org: Org, pid: int, factory: sessionmaker[Session], n: int) -> None:
    """``n`` texts on both channels (two sender numbers), each with a longer history and a
    provider call, so every kind of detail a message answer shows is there."""
    for i in range(n):
        channel = "clinic" if i % 2 else "lead"
        r = org.post("/messages", {"patient_id": pid, "channel": channel, "body": f"Text {i}"})
        assert r.status_code == 202, r.text
        mid = r.json()["id"]
        with transaction(factory) as s:
            message = s.get(Message, mid)
            assert message is not None
            at = utcnow() + timedelta(seconds=1)
            message.status = "sent"
            message.provider_id = f"SM{mid:032d}"
            s.add_all(
                [
                    MessageEvent(organization_id=org.id, message_id=mid, status="sending", at=at),
                    MessageEvent(organization_id=org.id, message_id=mid, status="sent", at=at),
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


LISTS: dict[str, Callable[[int], str]] = {
    "messages": lambda pid: "/messages?limit=50",
    "patient_messages": lambda pid: f"/patients/{pid}/messages?limit=50",
}


@pytest.mark.parametrize("listing", list(LISTS))
def test_listing_messages_does_not_run_more_queries_for_more_messages(
    ready_org: Org, factory: sessionmaker[Session], listing: str
) -> None:
    pid = textable_patient(ready_org)
    engine = ready_org.client.app.state.engine  # type: ignore[attr-defined]
    path = LISTS[listing](pid)

    def statements_for_page(expected: int) -> list[str]:
        with counting(engine) as statements:
            r = ready_org.get(path)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page) == expected
        assert all(len(m["history"]) == 3 and len(m["attempts"]) == 1 for m in page)
        assert {m["from"] for m in page} == {"+15005550006", "+14155550100"}
        return statements

    add_texts(ready_org, pid, factory, 5)
    few = statements_for_page(5)
    add_texts(ready_org, pid, factory, 45)
    many = statements_for_page(50)
    assert len(many) == len(few), "\n".join(many)
    assert len(many) <= 15, "\n".join(many)


def test_one_message_detail_is_a_handful_of_queries(
    ready_org: Org, factory: sessionmaker[Session]
) -> None:
    pid = textable_patient(ready_org)
    add_texts(ready_org, pid, factory, 1)
    mid = ready_org.get("/messages").json()[0]["id"]
    with counting(ready_org.client.app.state.engine) as statements:  # type: ignore[attr-defined]
        assert ready_org.get(f"/messages/{mid}").status_code == 200
    assert len(statements) <= 12, "\n".join(statements)
