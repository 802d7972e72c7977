"""Webhooks recorded in batches by one writer: answered only once committed, one bad item
does not cost the others, a patient's texts keep their order, a full queue answers 503."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.api import webhooks
from clinictext.domain.retry import RetryPolicy
from clinictext.domain.statuses import Status
from clinictext.providers.base import InboundText, StatusReport
from clinictext.services import inbound
from clinictext.services.webhook_batch import (
    InboundItem,
    Item,
    Outcome,
    StatusItem,
    apply_batch,
)
from clinictext.store.db import transaction
from clinictext.store.models import Message, MessageEvent
from tests.api.helpers import textable_patient
from tests.api.test_webhooks import post_signed, status_params
from tests.conftest import Org
from tests.e2e.harness import wait_until
from tests.support import counting, queue_texts

CLINIC_NUMBER = "+14155550100"


def sms_params(sid: str, from_: str, body: str) -> dict[str, str]:
    return {"MessageSid": sid, "From": from_, "To": CLINIC_NUMBER, "Body": body}


def sent_texts(factory: sessionmaker[Session], org: Org, pid: int, n: int) -> list[int]:
    """``n`` texts to ``pid``, handed to the provider as SMs<id>."""
    ids = queue_texts(factory, org.id, [(pid, f"Reminder {i}") for i in range(n)])
    with transaction(factory) as s:
        for message in s.scalars(select(Message).where(Message.id.in_(ids))):
            message.status, message.provider_id = Status.SENT.value, f"SMs{message.id}"
    return ids


def report(sid: str, status: str, code: str | None = None) -> StatusReport:
    return StatusReport(sid, Status(status), code, status)


def status_of(factory: sessionmaker[Session], mid: int) -> str | None:
    with factory() as s:
        return s.scalar(select(Message.status).where(Message.id == mid))


def stored_bodies(factory: sessionmaker[Session], from_: str) -> list[str]:
    with factory() as s:
        return list(
            s.scalars(
                select(Message.body)
                .where(Message.direction == "inbound", Message.from_phone == from_)
                .order_by(Message.id)
            )
        )


def test_every_answer_comes_after_its_commit(ready_org: Org, factory: Any) -> None:
    """Many callbacks and texts at once: right after each 2xx, a fresh session sees it."""
    pid = textable_patient(ready_org)
    ids = sent_texts(factory, ready_org, pid, 40)
    senders = [f"+1415555{7000 + i}" for i in range(40)]

    def callback(mid: int) -> str | None:
        r = post_signed(
            ready_org, f"/webhooks/twilio/status?mid={mid}", status_params(f"SMs{mid}", "delivered")
        )
        assert r.status_code == 204, r.text
        return status_of(factory, mid)

    def text(i: int) -> list[str]:
        params = sms_params(f"SMin{i}", senders[i], f"On my way {i}")
        r = post_signed(ready_org, "/webhooks/twilio/sms", params)
        assert r.status_code == 200, r.text
        return stored_bodies(factory, senders[i])

    with ThreadPoolExecutor(16) as pool:
        statuses = pool.map(callback, ids)
        bodies = pool.map(text, range(len(senders)))
        assert list(statuses) == ["delivered"] * len(ids)
        assert list(bodies) == [[f"On my way {i}"] for i in range(len(senders))]
    writer = ready_org.client.app.state.webhook_writer  # type: ignore[attr-defined]
    assert writer.applied >= len(ids) + len(senders)


def test_a_patients_texts_keep_their_order(ready_org: Org, factory: Any) -> None:
    """Each patient texts in turn (the next after the answer), all patients at once."""
    phones = [f"+1415555{8000 + i}" for i in range(6)]

    def patient(k: int) -> None:
        for i in range(8):
            params = sms_params(f"SMo{k}-{i}", phones[k], f"part {i}")
            assert post_signed(ready_org, "/webhooks/twilio/sms", params).status_code == 200

    with ThreadPoolExecutor(len(phones)) as pool:
        list(pool.map(patient, range(len(phones))))
    for phone in phones:
        assert stored_bodies(factory, phone) == [f"part {i}" for i in range(8)]


def test_a_batch_is_applied_in_arrival_order(ready_org: Org, factory: Any) -> None:
    a, b = "+14155558101", "+14155558102"
    items: list[Item] = [
        InboundItem(InboundText(f"SMq{i}", frm, CLINIC_NUMBER, body, 1))
        for i, (frm, body) in enumerate(
            [(a, "one"), (b, "uno"), (a, "two"), (a, "three"), (b, "dos"), (a, "two")]
        )
    ]
    items.append(InboundItem(InboundText("SMq0", a, CLINIC_NUMBER, "one", 1)))  # a duplicate
    outcomes = apply_batch(factory, items, RetryPolicy(), random.Random(1))
    assert all(o.ok for o in outcomes)
    assert stored_bodies(factory, a) == ["one", "two", "three", "two"]
    assert stored_bodies(factory, b) == ["uno", "dos"]


def test_one_failing_item_does_not_cost_the_others(
    ready_org: Org, factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The failing text is written and then fails: its rows are undone, the rest kept."""
    pid = textable_patient(ready_org)
    ids = sent_texts(factory, ready_org, pid, 3)
    react = inbound.react

    def failing_after_write(session: Session, received: inbound.Received, at: Any) -> Any:
        reacted = react(session, received, at)
        if received.message is not None and received.message.provider_id == "SMbad":
            raise RuntimeError("this text cannot be applied")
        return reacted

    monkeypatch.setattr(inbound, "react", failing_after_write)
    items: list[Item] = [
        StatusItem(report(f"SMs{ids[0]}", "delivered"), ids[0]),
        InboundItem(InboundText("SMgood1", "+14155558201", CLINIC_NUMBER, "first", 1)),
        InboundItem(InboundText("SMbad", "+14155558202", CLINIC_NUMBER, "bad", 1)),
        StatusItem(report(f"SMs{ids[1]}", "undelivered", "30006"), ids[1]),
        InboundItem(InboundText("SMgood2", "+14155558201", CLINIC_NUMBER, "second", 1)),
        StatusItem(report("SMunknown", "delivered"), None),  # parked
    ]
    outcomes = apply_batch(factory, items, RetryPolicy(), random.Random(1))
    assert [o.ok for o in outcomes] == [True, True, False, True, True, True]
    assert [status_of(factory, m) for m in ids] == ["delivered", "undelivered", "sent"]
    assert stored_bodies(factory, "+14155558201") == ["first", "second"]
    assert stored_bodies(factory, "+14155558202") == []


def test_a_webhook_that_cannot_be_recorded_is_503_with_retry_after(
    ready_org: Org, factory: Any, rows: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(session: Session, texts: Any) -> Any:
        raise RuntimeError("the database refused it")

    monkeypatch.setattr(inbound, "store_all", broken)
    before = rows()
    r = post_signed(ready_org, "/webhooks/twilio/sms", sms_params("SMx", "+14155558301", "hi"))
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "webhook_not_recorded"
    assert int(r.headers["Retry-After"]) > 0
    assert rows() == before


def gate_writer(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """Hold the writer inside its next batch until ``release`` is set; ``entered`` says
    it is there."""
    entered, release = threading.Event(), threading.Event()
    apply = webhooks._apply

    def held(app: Any, items: list[Item]) -> list[Outcome]:
        entered.set()
        assert release.wait(60), "the test never released the writer"
        return apply(app, items)

    monkeypatch.setattr(webhooks, "_apply", held)
    return entered, release


def test_a_full_queue_answers_503_at_once_and_the_queued_are_recorded(
    ready_org: Org, factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    writer = ready_org.client.app.state.webhook_writer  # type: ignore[attr-defined]
    writer.limits = type(writer.limits)(max_batch=10, linger=0, max_queue=3, wait=60)
    entered, release = gate_writer(monkeypatch)
    pid = textable_patient(ready_org)
    ids = sent_texts(factory, ready_org, pid, 5)

    def callback(mid: int) -> Any:
        path = f"/webhooks/twilio/status?mid={mid}"
        return post_signed(ready_org, path, status_params(f"SMs{mid}", "delivered"))

    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(callback, ids[0])
        wait_until(entered.is_set, 30, "the writer to take the first callback")
        queued = [pool.submit(callback, mid) for mid in ids[1:4]]
        wait_until(lambda: writer.queued == 3, 30, "three callbacks queued")
        refused = callback(ids[4])  # answered while the writer is still held
        assert refused.status_code == 503
        assert refused.headers["Retry-After"]
        assert status_of(factory, ids[4]) == "sent"
        assert not first.done() and not any(f.done() for f in queued)
        release.set()
        assert [f.result().status_code for f in [first, *queued]] == [204] * 4
    assert [status_of(factory, m) for m in ids] == ["delivered"] * 4 + ["sent"]
    assert writer.batches == 2  # the first alone, then the three that queued behind it


def test_stopping_records_what_is_queued(
    ready_org: Org, factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At shutdown the queued webhooks are written before the writer ends."""
    import asyncio

    from clinictext.services.webhook_batch_writer import WebhookWriter, WriterLimits

    pid = textable_patient(ready_org)
    ids = sent_texts(factory, ready_org, pid, 3)
    seen: list[int] = []

    def apply(items: Sequence[Item]) -> list[Outcome]:
        seen.append(len(items))
        return apply_batch(factory, items, RetryPolicy(), random.Random(1))

    async def run() -> list[Outcome]:
        writer = WebhookWriter(apply, WriterLimits(linger=0))
        writer.start()
        pending = [
            asyncio.ensure_future(writer.submit(StatusItem(report(f"SMs{m}", "delivered"), m)))
            for m in ids
        ]
        await asyncio.sleep(0)  # let them queue
        await writer.stop()
        return [await p for p in pending]

    outcomes = asyncio.run(run())
    assert all(o.ok for o in outcomes)
    assert sum(seen) == 3
    assert [status_of(factory, m) for m in ids] == ["delivered"] * 3


def test_a_batch_of_callbacks_reads_in_two_queries_whatever_its_size(
    ready_org: Org, factory: Any
) -> None:
    """What a batch of callbacks looks up is read in one go: 5 callbacks or 30, two
    queries (the superseded attempts and the messages), and one UPDATE of the messages."""
    from sqlalchemy import event

    pid = textable_patient(ready_org)
    ids = sent_texts(factory, ready_org, pid, 35)
    engine = factory.kw["bind"]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2].lstrip().split(None, 1)[0].upper())

    def run(batch: list[int]) -> dict[str, int]:
        statements.clear()
        items: list[Item] = [StatusItem(report(f"SMs{m}", "delivered"), m) for m in batch]
        event.listen(engine, "before_cursor_execute", count)
        try:
            outcomes = apply_batch(factory, items, RetryPolicy(), random.Random(1))
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert all(o.ok for o in outcomes)
        return {verb: statements.count(verb) for verb in ("SELECT", "UPDATE")}

    assert run(ids[:5]) == run(ids[5:]) == {"SELECT": 2, "UPDATE": 1}
    assert [status_of(factory, m) for m in ids] == ["delivered"] * len(ids)


def test_a_batch_writes_history_in_one_statement_and_in_order(
    ready_org: Org, factory: Any, engine: Any
) -> None:
    """Several reports about one text in one batch: its history reads in the order they
    were applied (a retry's ``queued`` after the ``delivered`` before it is impossible, so
    the text here goes sent → undelivered-and-retried → queued), and the batch's history
    rows, however many, cost one INSERT."""
    pid = textable_patient(ready_org)
    a, b, c = sent_texts(factory, ready_org, pid, 3)
    items: list[Item] = [
        StatusItem(report(f"SMs{a}", "delivered"), a),
        StatusItem(report(f"SMs{b}", "sent"), b),  # already sent: nothing to write
        StatusItem(report(f"SMs{c}", "undelivered", "30003"), c),  # transient: retried
        StatusItem(report(f"SMs{c}", "delivered"), c),  # the given-up attempt: ignored
        StatusItem(report(f"SMs{b}", "delivered"), b),
    ]
    with counting(engine) as statements:
        outcomes = apply_batch(factory, items, RetryPolicy(), random.Random(1))
    assert all(o.ok for o in outcomes)
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO MESSAGE_EVENTS")]
    assert len(inserts) == 1, inserts
    with factory() as s:
        rows = s.execute(
            select(MessageEvent.message_id, MessageEvent.status, MessageEvent.detail)
            .where(MessageEvent.message_id.in_([a, b, c]), MessageEvent.status != "queued")
            .order_by(MessageEvent.id)
        ).all()
        retried = s.execute(
            select(MessageEvent.status, MessageEvent.detail)
            .where(MessageEvent.message_id == c)
            .order_by(MessageEvent.id.desc())
            .limit(1)
        ).one()
    # queue_texts wrote each text's first ``queued`` row; the batch wrote these, in order:
    assert [(m, st) for m, st, _ in rows] == [(a, "delivered"), (b, "delivered")]
    assert retried.status == "queued" and "retrying" in (retried.detail or "")
    assert status_of(factory, c) == "queued"


def test_plain_callbacks_and_the_rest_of_a_batch_end_as_one_by_one(
    ready_org: Org, factory: Any
) -> None:
    """Plain callbacks are applied to their texts' rows together (``report_rows``); a text
    with any other callback, or whose provider id a callback without the text's id also
    names, is applied one by one. Either way each text ends as its callbacks applied
    alone, in arrival order, would leave it."""
    pid = textable_patient(ready_org)
    a, b, c, d = sent_texts(factory, ready_org, pid, 4)
    items: list[Item] = [
        StatusItem(report(f"SMs{a}", "sent"), a),  # already sent: nothing
        StatusItem(report(f"SMs{b}", "delivered"), None),  # found by its provider id
        StatusItem(report(f"SMs{a}", "delivered"), a),
        StatusItem(report(f"SMs{c}", "delivered"), c),
        StatusItem(report(f"SMs{c}", "undelivered", "30006"), c),  # final already: ignored
        StatusItem(report(f"SMs{b}", "delivered"), b),  # not news
        StatusItem(report(f"SMs{d}", "undelivered", "30006"), d),  # a landline: flagged
        StatusItem(report("SMother", "delivered"), a),  # another attempt than a's
    ]
    outcomes = apply_batch(factory, items, RetryPolicy(), random.Random(1))
    assert all(o.ok for o in outcomes)
    assert [status_of(factory, m) for m in (a, b, c, d)] == [
        "delivered",
        "delivered",
        "delivered",
        "undelivered",
    ]
    with factory() as s:
        rows = s.execute(
            select(MessageEvent.message_id, MessageEvent.status)
            .where(MessageEvent.message_id.in_([a, b, c, d]), MessageEvent.status != "queued")
            .order_by(MessageEvent.message_id, MessageEvent.id)
        ).all()
        by_text = {m: s.get(Message, m) for m in (a, d)}
    assert [tuple(r) for r in rows] == [
        (a, "delivered"),
        (b, "delivered"),
        (c, "delivered"),
        (d, "undelivered"),
    ]
    assert by_text[a].provider_id == f"SMs{a}"  # type: ignore[union-attr]
    assert by_text[d].error_code == "30006"  # type: ignore[union-attr]
