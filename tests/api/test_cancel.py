"""Canceling a text before it reaches the provider: POST /messages/{id}/cancel (API.md)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.orm import Session, sessionmaker

from clinictext.dispatch.claims import claim_due
from clinictext.dispatch.handoff import hand_off
from clinictext.services import cancel
from clinictext.services.clock import utcnow
from clinictext.store.db import transaction
from clinictext.store.models import Message
from tests.api.helpers import textable_patient
from tests.conftest import Org


def queue_text(org: Org, body: str = "Your cleaning is tomorrow at 3pm.") -> int:
    pid = textable_patient(org)
    r = org.post("/messages", {"patient_id": pid, "channel": "clinic", "body": body})
    assert r.status_code == 202, r.text
    return int(r.json()["id"])


def set_status(factory: sessionmaker[Session], message_id: int, status: str) -> None:
    """Put a text in ``status``; a ``sending`` one as handed to the provider."""
    handed = utcnow() if status == "sending" else None
    with transaction(factory) as s:
        s.execute(
            update(Message).where(Message.id == message_id).values(status=status, handed_at=handed)
        )


def test_cancel_a_queued_text_answers_the_message_as_canceled(ready_org: Org) -> None:
    mid = queue_text(ready_org)
    r = ready_org.post(f"/messages/{mid}/cancel")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == mid and body["status"] == "canceled"
    assert body == ready_org.get(f"/messages/{mid}").json()  # the same shape as GET
    assert [h["status"] for h in body["history"]] == ["queued", "canceled"]
    key_actor = f"api_key:{_key_id(ready_org)}"
    assert body["history"][-1]["detail"] == f"canceled by {key_actor}"
    events = ready_org.get("/audit", params={"entity": "message", "entity_id": mid}).json()
    canceled = [e for e in events if e["action"] == "message.canceled"]
    assert len(canceled) == 1
    assert canceled[0]["actor"] == key_actor
    assert canceled[0]["data"]["from_status"] == "queued"


def _key_id(org: Org) -> int:
    queued = org.get("/audit", params={"entity": "message"}).json()
    return int(next(e for e in queued if e["action"] == "message.queued")["actor"].split(":")[1])


def test_cancel_a_scheduled_text(ready_org: Org, factory: sessionmaker[Session]) -> None:
    mid = queue_text(ready_org)
    set_status(factory, mid, "scheduled")
    r = ready_org.post(f"/messages/{mid}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "canceled"


@pytest.mark.parametrize(
    ("status", "says"),
    [
        ("sending", "handed to the provider"),
        ("sent", "handed to the provider"),
        ("delivered", "already delivered"),
        ("failed", "already failed"),
    ],
)
def test_a_text_past_the_outbox_cannot_be_canceled_and_says_why(
    ready_org: Org, factory: sessionmaker[Session], rows: Any, status: str, says: str
) -> None:
    mid = queue_text(ready_org)
    set_status(factory, mid, status)
    before = rows()
    r = ready_org.post(f"/messages/{mid}/cancel")
    assert r.status_code == 409, r.text
    error = r.json()["error"]
    assert error["code"] == "not_cancelable"
    assert says in error["message"]
    assert rows() == before  # nothing written
    assert ready_org.get(f"/messages/{mid}").json()["status"] == status


def test_canceling_twice_says_it_was_already_canceled(ready_org: Org) -> None:
    mid = queue_text(ready_org)
    assert ready_org.post(f"/messages/{mid}/cancel").status_code == 200
    r = ready_org.post(f"/messages/{mid}/cancel")
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "not_cancelable"
    assert "already canceled" in r.json()["error"]["message"]
    history = ready_org.get(f"/messages/{mid}").json()["history"]
    assert [h["status"] for h in history] == ["queued", "canceled"]


def test_another_organizations_text_is_not_found(ready_org: Org, make_org: Any) -> None:
    mid = queue_text(ready_org)
    other: Org = make_org("Other Clinic")
    r = other.post(f"/messages/{mid}/cancel")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "message_not_found"
    assert ready_org.get(f"/messages/{mid}").json()["status"] == "queued"


def test_unknown_message_is_not_found(ready_org: Org) -> None:
    assert ready_org.post("/messages/999999/cancel").status_code == 404


def test_a_received_text_cannot_be_canceled(ready_org: Org, factory: sessionmaker[Session]) -> None:
    mid = queue_text(ready_org)
    with transaction(factory) as s:
        s.execute(
            update(Message).where(Message.id == mid).values(direction="inbound", status="received")
        )
    r = ready_org.post(f"/messages/{mid}/cancel")
    assert r.status_code == 409
    assert "patient sent" in r.json()["error"]["message"]


def test_cancel_decides_on_the_row_not_on_what_was_loaded(
    ready_org: Org, factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dispatcher hands the text over after cancel loaded it: the hand-off wins."""
    mid = queue_text(ready_org)
    real_get = cancel.get_message

    def get_then_claimed(session: Session, org_id: int, message_id: int) -> Message:
        message = real_get(session, org_id, message_id)
        assert message.status == "queued"
        # The claim as another transaction would leave it, behind the ORM's back.
        session.execute(
            text("UPDATE messages SET status = 'sending', handed_at = :now WHERE id = :id"),
            {"id": message_id, "now": utcnow().replace(tzinfo=None)},
        )
        return message

    monkeypatch.setattr(cancel, "get_message", get_then_claimed)
    with factory() as session, session.begin():
        with pytest.raises(cancel.NotCancelable) as refused:
            cancel.cancel(session, ready_org.id, mid, actor="test")
        assert "handed to the provider" in refused.value.message
        assert session.get(Message, mid).status == "sending"  # type: ignore[union-attr]


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite: one writer
@pytest.mark.parametrize("handed", [True, False])
def test_cancel_waits_for_a_concurrent_hand_off(
    ready_org: Org, factory: sessionmaker[Session], db_url: str, handed: bool
) -> None:
    """PostgreSQL: a cancel racing a worker's open transaction waits for it; it refuses a
    text the worker handed to the provider, and cancels one only claimed."""
    mid = queue_text(ready_org)
    claimed, result = threading.Event(), {}

    with factory() as worker, worker.begin():
        claims = claim_due(
            worker,
            "worker-1",
            utcnow() + timedelta(seconds=1),
            limit=10,
            lease=timedelta(seconds=60),
            horizon=timedelta(seconds=5),
        )
        assert [c.message_id for c in claims] == [mid]
        if handed:
            assert hand_off(worker, [mid], "worker-1", utcnow()) == {mid}

        def try_cancel() -> None:
            claimed.wait()
            with factory() as session, session.begin():
                try:
                    cancel.cancel(session, ready_org.id, mid, actor="staff")
                    result["outcome"] = "canceled"
                except cancel.NotCancelable as err:
                    result["outcome"] = err.message

        thread = threading.Thread(target=try_cancel)
        thread.start()
        claimed.set()
        _wait_for_lock_wait(factory)
    # The worker committed: the waiting cancel re-reads the row and decides.
    thread.join(timeout=30)
    assert not thread.is_alive()
    with factory() as s:
        status = s.get(Message, mid).status  # type: ignore[union-attr]
    if handed:
        assert "handed to the provider" in result["outcome"]
        assert status == "sending"
    else:
        assert result["outcome"] == "canceled"
        assert status == "canceled"
        with factory() as s, s.begin():
            assert hand_off(s, [mid], "worker-1", utcnow()) == set()


def _wait_for_lock_wait(factory: sessionmaker[Session], timeout: float = 20) -> None:
    """Until some backend waits on a row lock (the cancel blocked by the claim)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with factory() as s:
            waiting = s.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            )
        if waiting:
            return
        time.sleep(0.05)
    raise AssertionError("the cancel never waited for the claim's row lock")
