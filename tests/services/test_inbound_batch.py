"""A batch of inbound texts costs a fixed number of statements plus a few per text, and
what the batch read up front (patients, consent) stays true as its texts change it."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.domain.retry import RetryPolicy
from clinictext.providers.base import InboundText
from clinictext.services import inbound, message_events
from clinictext.services.clock import utcnow
from clinictext.services.webhook_batch import InboundItem, Item, apply_batch
from clinictext.store.db import transaction
from clinictext.store.models import Commlog, ConsentEventRow, Message, MessageEvent, Patient
from tests.api.helpers import add_patient, opt_in
from tests.conftest import Org
from tests.support import counting

CLINIC_NUMBER = "+14155550100"


def texts(tag: str, phones: list[str], body: str = "See you on Thursday") -> list[Item]:
    return [
        InboundItem(InboundText(f"SM{tag}{i}", phone, CLINIC_NUMBER, body, 1))
        for i, phone in enumerate(phones)
    ]


def applied(factory: sessionmaker[Session], engine: Engine, items: list[Item]) -> list[str]:
    """The statements applying ``items`` as one batch ran."""
    with counting(engine) as statements:
        outcomes = apply_batch(factory, items, RetryPolicy(), random.Random(1))
    assert all(o.ok for o in outcomes)
    return list(statements)


def selects(statements: list[str]) -> int:
    return sum(1 for s in statements if s.lstrip().upper().startswith("SELECT"))


def test_a_batch_costs_a_fixed_number_of_statements_plus_a_few_per_text(
    ready_org: Org, factory: Any, engine: Engine
) -> None:
    phones = [f"+1415555{7100 + i}" for i in range(20)]
    for phone in phones:
        opt_in(ready_org, add_patient(ready_org, phone))
    sizes = (2, 6, 12)
    counts: list[int] = []
    reads: list[int] = []
    inserts: list[int] = []
    start = 0
    for n in sizes:
        statements = applied(factory, engine, texts(f"n{n}-", phones[start : start + n]))
        start += n
        counts.append(len(statements))
        reads.append(selects(statements))
        inserts.append(sum(1 for s in statements if s.lstrip().startswith("INSERT INTO messages")))
    # Every lookup is read for the whole batch up front: as many reads for 12 texts as for 2.
    assert reads[0] == reads[1] == reads[2], reads
    per_text = (counts[1] - counts[0]) // (sizes[1] - sizes[0])
    assert counts[1] - counts[0] == per_text * (sizes[1] - sizes[0]), counts
    assert counts[2] - counts[0] == per_text * (sizes[2] - sizes[0]), counts
    # A text: on SQLite its patient's unread count (an UPDATE per row there, one
    # executemany on PostgreSQL); its message, history rows and commlogs go per batch.
    assert per_text <= 1, counts
    assert inserts == [1, 1, 1], inserts
    with factory() as s:
        unread = s.scalars(select(Patient.unread_count).where(Patient.phone.in_(phones)))
        assert sorted(unread) == [0] * (20 - sum(sizes)) + [1] * sum(sizes)


def test_texts_from_a_new_number_in_one_batch_find_one_patient(
    ready_org: Org, factory: Any, engine: Engine
) -> None:
    new = "+14155557201"
    applied(factory, engine, texts("new", [new, new, new]))
    with factory() as s:
        patients = list(
            s.scalars(
                select(Patient).where(Patient.organization_id == ready_org.id, Patient.phone == new)
            )
        )
        assert len(patients) == 1 and patients[0].unknown_sender
        assert patients[0].unread_count == 3
        stored = s.scalars(select(Message.patient_id).where(Message.from_phone == new))
        assert list(stored) == [patients[0].id] * 3


def test_keywords_in_one_batch_see_each_others_consent(
    ready_org: Org, factory: Any, engine: Engine
) -> None:
    """STOP, then HELP (an opted-out number gets no help), then START (subscribed again):
    each text reads the consent the texts before it in the batch left."""
    phone = "+14155557301"
    pid = add_patient(ready_org, phone)
    opt_in(ready_org, pid)
    items: list[Item] = [
        InboundItem(InboundText(f"SMk{i}", phone, CLINIC_NUMBER, body, 1))
        for i, body in enumerate(["STOP", "HELP", "START", "HELP"])
    ]
    applied(factory, engine, items)
    with factory() as s:
        actions = list(
            s.scalars(
                select(ConsentEventRow.action)
                .where(ConsentEventRow.phone == phone)
                .order_by(ConsentEventRow.id)
            )
        )
        assert actions == ["opt_in", "opt_out", "opt_in"]
        replies = list(
            s.scalars(
                select(Message.body)
                .where(Message.patient_id == pid, Message.direction == "outbound")
                .order_by(Message.id)
            )
        )
    # The opt-out's confirmation, the welcome back, and help once subscribed again.
    assert len(replies) == 3, replies


def test_texts_stored_together_each_get_their_own_row_and_history(
    ready_org: Org, factory: Any, engine: Engine
) -> None:
    """One INSERT stores the batch: each text's object holds the id of its own row, and its
    history row and commlog name that row."""
    phones = [f"+1415555{7400 + i}" for i in range(5)]
    for phone in phones:
        opt_in(ready_org, add_patient(ready_org, phone))
    batch = [
        (InboundText(f"SMrow{i}", phones[i % 5], CLINIC_NUMBER, f"Text number {i}", 1), utcnow())
        for i in range(12)
    ]
    batch.append((batch[3][0], utcnow()))  # a second copy in the same batch
    with transaction(factory) as s, message_events.buffered(s):
        received = inbound.store_all(s, batch)
        message_events.write(s)
        held = [(r.message.id, r.message.provider_id, r.duplicate) for r in received if r.message]
    assert [d for _, _, d in held] == [False] * 12 + [True]
    assert held[-1][:2] == held[3][:2]
    with factory() as s:
        for message_id, provider_id, _ in held:
            row = s.get(Message, message_id)
            assert row is not None and row.provider_id == provider_id
            assert row.body == f"Text number {provider_id.removeprefix('SMrow')}"
            history = select(MessageEvent.status).where(MessageEvent.message_id == row.id)
            assert list(s.scalars(history)) == ["received"]
            logged = s.scalars(select(Commlog.patient_id).where(Commlog.message_id == row.id))
            assert list(logged) == [row.patient_id]
