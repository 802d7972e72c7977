"""Claiming, pacing and recording, on SQLite and PostgreSQL (no provider involved)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clinictext.dispatch.claims import claim_due
from clinictext.dispatch.results import Result, record
from clinictext.domain.checklist import Channel
from clinictext.domain.retry import RetryPolicy
from clinictext.providers.base import CallLog, SendOutcome
from clinictext.services import sending
from clinictext.store.db import transaction
from clinictext.store.models import Message, MessageEvent, ProviderAttempt, SenderNumber
from tests.support import counting, seed_clinic

T0 = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
LEASE, HORIZON = timedelta(seconds=60), timedelta(seconds=2)
LOG = CallLog("send", {}, {}, 201, 12.0)


def setup_org(factory: sessionmaker[Session], mps: int = 1) -> tuple[int, int]:
    seeded = seed_clinic(factory, senders=("+14155550100",), mps=mps)
    return seeded.org_id, seeded.patient_ids[0]


def queue(
    factory: sessionmaker[Session], org_id: int, pid: int, body: str, n: int = 1
) -> list[int]:
    with transaction(factory) as s:
        return [
            sending.send(s, org_id, pid, Channel.CLINIC, body, actor="t", now=T0).id
            for _ in range(n)
        ]


def claim(factory: sessionmaker[Session], now: datetime, limit: int = 100) -> Any:
    with transaction(factory) as s:
        return claim_due(s, "w1", now, limit=limit, lease=LEASE, horizon=HORIZON)


def test_a_three_segment_text_takes_three_seconds_of_a_one_mps_number(factory: Any) -> None:
    org_id, pid = setup_org(factory, mps=1)
    queue(factory, org_id, pid, "x" * 400)  # 400 GSM-7 characters: 3 segments
    queue(factory, org_id, pid, "short")
    first = claim(factory, T0)
    assert [c.slot for c in first] == [T0]  # the second text's slot is 3 s away: beyond 2 s
    with transaction(factory) as s:
        sender = s.scalar(select(SenderNumber))
        assert sender.next_send_at == T0 + timedelta(seconds=3)
    assert claim(factory, T0 + timedelta(seconds=0.5)) == []
    second = claim(factory, T0 + timedelta(seconds=1.5))
    assert [c.slot for c in second] == [T0 + timedelta(seconds=3)]


def test_pacing_spreads_a_batch_over_the_horizon(factory: Any) -> None:
    org_id, pid = setup_org(factory, mps=10)
    queue(factory, org_id, pid, "hello", n=50)
    claims = claim(factory, T0)
    assert len(claims) == 21  # slots every 0.1 s from T0 through T0 + 2 s
    assert claims[-1].slot - claims[0].slot == timedelta(seconds=2)


def test_claimed_texts_are_sending_with_a_lease_and_history(factory: Any) -> None:
    org_id, pid = setup_org(factory, mps=100)
    ids = queue(factory, org_id, pid, "hello", n=3)
    assert {c.message_id for c in claim(factory, T0)} == set(ids)
    assert claim(factory, T0) == []  # nothing is claimed twice
    with transaction(factory) as s:
        for m in s.scalars(select(Message)):
            assert (m.status, m.attempts, m.claimed_by) == ("sending", 1, "w1")
            assert m.lease_until == T0 + HORIZON + LEASE
        statuses = [e.status for e in s.scalars(select(MessageEvent).order_by(MessageEvent.id))]
        assert statuses.count("sending") == 3


def test_conversations_go_before_bulk_texts(factory: Any) -> None:
    org_id, pid = setup_org(factory, mps=100)
    bulk = queue(factory, org_id, pid, "bulk", n=3)
    with transaction(factory) as s:
        for m in s.scalars(select(Message).where(Message.id.in_(bulk))):
            m.lane = 1
    staff = queue(factory, org_id, pid, "reply")
    claims = claim(factory, T0 + timedelta(seconds=1), limit=2)
    assert claims[0].message_id == staff[0]


def test_unverified_sender_texts_stay_queued(factory: Any) -> None:
    org_id, pid = setup_org(factory)
    queue(factory, org_id, pid, "hello")
    with transaction(factory) as s:
        s.scalar(select(SenderNumber)).verification = "pending"
    assert claim(factory, T0) == []


def _outcome(**kw: Any) -> SendOutcome:
    return SendOutcome(log=LOG, **kw)


def test_results_accepted_refused_and_unreachable(factory: Any) -> None:
    org_id, pid = setup_org(factory, mps=100)
    ids = queue(factory, org_id, pid, "hello", n=4)
    claim(factory, T0)
    results = [
        Result(ids[0], _outcome(reachable=True, provider_id="SMa", status=None)),
        Result(ids[1], _outcome(reachable=True, error_code="30007", error_message="spam")),
        Result(ids[2], _outcome(reachable=False, error_message="The SMS provider is unreachable.")),
        Result(ids[3], None),
    ]
    with transaction(factory) as s:
        record(s, results, T0, RetryPolicy(), random.Random(1))
    with transaction(factory) as s:
        got = {m.id: m for m in s.scalars(select(Message))}
        assert (got[ids[0]].status, got[ids[0]].provider_id) == ("sent", "SMa")
        assert (got[ids[1]].status, got[ids[1]].error_code) == ("failed", "30007")
        assert got[ids[2]].status == "queued"
        assert T0 + timedelta(seconds=1) <= got[ids[2]].due_at <= T0 + timedelta(seconds=3)
        assert (got[ids[3]].status, got[ids[3]].attempts, got[ids[3]].due_at) == ("queued", 0, T0)


def test_transient_failures_back_off_then_expire(factory: Any) -> None:
    org_id, pid = setup_org(factory, mps=100)
    (mid,) = queue(factory, org_id, pid, "hello")
    policy = RetryPolicy(validity=timedelta(minutes=10))
    now = T0
    delays = []
    while True:
        claims = claim(factory, now)
        assert [c.message_id for c in claims] == [mid]
        with transaction(factory) as s:
            record(
                s,
                [Result(mid, _outcome(reachable=True, error_code="30003"))],
                now,
                policy,
                random.Random(2),
            )
            m = s.get(Message, mid)
            if m.status != "queued":
                break
            delays.append((m.due_at - now).total_seconds())
            now = m.due_at
    assert m.status == "failed"
    assert m.error_code == "30003"
    assert "within" in (m.error_message or "")
    assert delays[0] < delays[-1]  # exponential
    assert now - T0 >= timedelta(minutes=10)


def test_a_callback_that_won_the_race_is_not_undone(factory: Any) -> None:
    from clinictext.domain.statuses import Status
    from clinictext.services.status_updates import apply

    org_id, pid = setup_org(factory, mps=100)
    (mid,) = queue(factory, org_id, pid, "hello")
    claim(factory, T0)
    with transaction(factory) as s:
        apply(s, s.get(Message, mid), Status.DELIVERED, T0, provider_id="SMz")
    with transaction(factory) as s:
        record(
            s,
            [Result(mid, _outcome(reachable=True, provider_id="SMz"))],
            T0,
            RetryPolicy(),
            random.Random(1),
        )
        assert s.get(Message, mid).status == "delivered"


@pytest.mark.parametrize("accepted", [0, 1, 3], ids=["none-accepted", "some", "all"])
def test_recording_reads_its_texts_by_index_with_no_empty_in_list(
    factory: Any, engine: Any, accepted: int
) -> None:
    """An empty IN list renders as a subquery, which inside an OR keeps PostgreSQL from
    using an index: a batch with no accepted text (the provider went away) must not
    carry one, nor one with no refused text."""
    org_id, pid = setup_org(factory, mps=100)
    ids = queue(factory, org_id, pid, "hello", n=3)
    claim(factory, T0)
    results = [
        Result(mid, SendOutcome(True, provider_id=f"SM{mid:032d}") if i < accepted else None)
        for i, mid in enumerate(ids)
    ]
    with counting(engine) as seen, transaction(factory) as s:
        record(s, results, T0, RetryPolicy(), random.Random(1), "w1")
    reads = [st for st in seen if st.lstrip().upper().startswith("SELECT")]
    assert reads, seen
    assert not [st for st in reads if "1 != 1" in st or "1!=1" in st or "(SELECT 1" in st]
    with transaction(factory) as s:
        statuses = sorted(m.status for m in s.scalars(select(Message)))
    assert statuses == sorted(["sent"] * accepted + ["queued"] * (3 - accepted))


def test_a_batch_of_accepted_answers_runs_the_same_statements_however_large(
    factory: Any, engine: Any
) -> None:
    """Accepted answers are applied to the texts' rows together (``_record_plain``): the
    statements a batch runs do not grow with it, and each text ends as one applied alone
    would: sent, its provider id recorded, no longer claimed, one history row and one
    provider call logged."""
    org_id, pid = setup_org(factory, mps=1000)
    ids = queue(factory, org_id, pid, "hello", n=22)
    claim(factory, T0)

    def recorded(batch: list[int]) -> list[str]:
        results = [
            Result(mid, _outcome(reachable=True, provider_id=f"SM{mid:032d}")) for mid in batch
        ]
        with counting(engine) as seen, transaction(factory) as s:
            record(s, results, T0, RetryPolicy(), random.Random(1), "w1")
        return [st.split()[0].upper() for st in seen]

    assert recorded(ids[:2]) == recorded(ids[2:])
    with transaction(factory) as s:
        for message in s.scalars(select(Message).where(Message.id.in_(ids))):
            assert (message.status, message.provider_id) == ("sent", f"SM{message.id:032d}")
            assert (message.claimed_by, message.lease_until, message.updated_at) == (None, None, T0)
        history = s.execute(
            select(MessageEvent.message_id, MessageEvent.status).where(
                MessageEvent.message_id.in_(ids), MessageEvent.status == "sent"
            )
        ).all()
        assert sorted(mid for mid, _ in history) == sorted(ids)
        calls = s.scalars(
            select(ProviderAttempt.message_id).where(ProviderAttempt.outcome == "ok")
        ).all()
        assert sorted(calls) == sorted(ids)


def test_an_answer_recorded_twice_in_one_batch_changes_the_text_once(factory: Any) -> None:
    org_id, pid = setup_org(factory, mps=100)
    (mid,) = queue(factory, org_id, pid, "hello")
    claim(factory, T0)
    answer = Result(mid, _outcome(reachable=True, provider_id="SMtwice"))
    with transaction(factory) as s:
        record(s, [answer, answer], T0, RetryPolicy(), random.Random(1), "w1")
    with transaction(factory) as s:
        assert (s.get(Message, mid).status, s.get(Message, mid).provider_id) == ("sent", "SMtwice")
        statuses = s.scalars(
            select(MessageEvent.status)
            .where(MessageEvent.message_id == mid)
            .order_by(MessageEvent.id)
        ).all()
        assert statuses == ["queued", "sending", "sent"]
