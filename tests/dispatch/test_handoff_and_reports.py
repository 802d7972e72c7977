"""The last consent check before the provider call, and reports that race the send answer.

On SQLite and PostgreSQL, with no provider: the dispatcher's steps are called one by one
in the orders that broke the promises.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from clinictext.dispatch.claims import claim_due
from clinictext.dispatch.handoff import hand_off
from clinictext.dispatch.results import Result, record
from clinictext.domain.consent import ConsentAction
from clinictext.domain.retry import RetryPolicy
from clinictext.domain.statuses import Status
from clinictext.providers.base import StatusReport
from clinictext.services import consent
from clinictext.services.status_updates import receive_callback
from clinictext.store.db import transaction
from clinictext.store.models import Message, SupersededSid
from tests.dispatch.test_claims_and_results import T0, _outcome, claim, queue, setup_org

POLICY = RetryPolicy()


def opt_out(factory: Any, org_id: int, pid: int, source: str = "keyword") -> None:
    with transaction(factory) as s:
        consent.record(
            s,
            org_id,
            pid,
            action=ConsentAction.OPT_OUT,
            source=source,
            actor="patient",
            by_patient=True,
            now=T0 + timedelta(seconds=1),
        )


def test_a_claimed_text_waiting_for_its_slot_is_canceled_by_an_opt_out(factory: Any) -> None:
    org_id, pid = setup_org(factory, mps=1)
    ids = queue(factory, org_id, pid, "hello", n=2)
    claims = claim(factory, T0)
    assert len(claims) == 2  # both claimed: the second waits a second for its slot
    opt_out(factory, org_id, pid)
    with transaction(factory) as s:
        assert hand_off(s, ids, "w1", T0 + timedelta(seconds=2)) == set()
    with transaction(factory) as s:
        for mid in ids:
            m = s.get(Message, mid)
            assert m.status == "canceled" and "opted out" in (m.error_message or "")
            assert m.handed_at is None


def test_a_text_handed_before_the_opt_out_went_out_and_is_not_canceled(factory: Any) -> None:
    org_id, pid = setup_org(factory, mps=1)
    (mid,) = queue(factory, org_id, pid, "hello")
    claim(factory, T0)
    with transaction(factory) as s:
        assert hand_off(s, [mid], "w1", T0) == {mid}
    opt_out(factory, org_id, pid)
    with transaction(factory) as s:
        m = s.get(Message, mid)
        assert m.status == "sending" and m.handed_at is not None  # it is with the provider


def test_a_hand_off_skips_texts_claimed_by_another_worker(factory: Any) -> None:
    org_id, pid = setup_org(factory, mps=10)
    (mid,) = queue(factory, org_id, pid, "hello")
    claim(factory, T0)
    with transaction(factory) as s:
        assert hand_off(s, [mid], "w2", T0) == set()
        assert s.get(Message, mid).handed_at is None


def test_a_text_not_handed_over_is_queued_again_untouched_by_record(factory: Any) -> None:
    org_id, pid = setup_org(factory, mps=10)
    (mid,) = queue(factory, org_id, pid, "hello")
    claim(factory, T0)
    with transaction(factory) as s:
        record(s, [Result(mid, None)], T0, POLICY, random.Random(1), "another-worker")
        assert s.get(Message, mid).status == "sending"  # not ours to requeue
    with transaction(factory) as s:
        record(s, [Result(mid, None)], T0, POLICY, random.Random(1), "w1")
        assert s.get(Message, mid).status == "queued"


def callback(factory: Any, mid: int, sid: str, status: Status, code: str | None = None) -> None:
    with transaction(factory) as s:
        report = StatusReport(sid, status, code, status.value)
        receive_callback(s, report, mid, T0, POLICY, random.Random(1))


def test_an_unreachable_callback_before_the_send_answer_retries_instead_of_sticking_at_sent(
    factory: Any,
) -> None:
    org_id, pid = setup_org(factory, mps=10)
    (mid,) = queue(factory, org_id, pid, "hello")
    claim(factory, T0)
    with transaction(factory) as s:
        assert hand_off(s, [mid], "w1", T0) == {mid}
    callback(factory, mid, "SM1", Status.SENT)
    callback(factory, mid, "SM1", Status.UNDELIVERED, "30003")
    with transaction(factory) as s:
        outcome = _outcome(reachable=True, provider_id="SM1", status=Status.QUEUED)
        record(s, [Result(mid, outcome)], T0, POLICY, random.Random(1), "w1")
    with transaction(factory) as s:
        m = s.get(Message, mid)
        assert m.status == "queued" and m.provider_id is None
        assert s.get(SupersededSid, "SM1") is not None
    # The same news again, as a refresh or a duplicate callback brings it: idempotent.
    callback(factory, mid, "SM1", Status.UNDELIVERED, "30003")
    with transaction(factory) as s:
        assert s.get(Message, mid).status == "queued"


def test_staff_can_cancel_a_claimed_text_until_it_is_handed_over(factory: Any) -> None:
    from clinictext.services import cancel

    org_id, pid = setup_org(factory, mps=1)
    first, second = queue(factory, org_id, pid, "hello", n=2)
    claim(factory, T0)
    with transaction(factory) as s:
        assert hand_off(s, [first], "w1", T0) == {first}
    with transaction(factory) as s:
        canceled = cancel.cancel(s, org_id, second, actor="staff", now=T0)
        assert canceled.status == "canceled" and canceled.claimed_by is None
    with transaction(factory) as s:
        assert hand_off(s, [second], "w1", T0 + timedelta(seconds=1)) == set()
    import pytest

    with transaction(factory) as s, pytest.raises(cancel.NotCancelable):
        cancel.cancel(s, org_id, first, actor="staff", now=T0)


# Reconciliation after crashes ---------------------------------------------------------


def _handed(factory: Any, org_id: int, pid: int, body: str, worker: str, now: Any) -> int:
    (mid,) = queue(factory, org_id, pid, body)
    with transaction(factory) as s:
        claim_due(
            s, worker, now, limit=10, lease=timedelta(seconds=4), horizon=timedelta(seconds=2)
        )
    with transaction(factory) as s:
        assert hand_off(s, [mid], worker, now) == {mid}
    return mid


def _reconcile(factory: Any, now: Any, listed: list[Any]) -> list[int]:
    """One reconciliation round by a live worker; the ids it looked at."""
    from clinictext.dispatch.reconcile import Answers, settle, take_stale

    with transaction(factory) as s:
        stale = take_stale(s, "live", now, timedelta(seconds=4), 100)
    if stale:
        answers = Answers({}, {(st.to, st.from_): listed for st in stale})
        with transaction(factory) as s:
            settle(s, stale, answers, now, POLICY, random.Random(1))
    return [st.message_id for st in stale]


def test_a_carrier_message_given_up_for_a_retry_is_never_taken_by_another_text(
    factory: Any,
) -> None:
    from clinictext.providers.base import ProviderMessage

    org_id, pid = setup_org(factory, mps=100)
    first = _handed(factory, org_id, pid, "Same body", "w1", T0)
    with transaction(factory) as s:
        outcome = _outcome(reachable=True, provider_id="SM1", status=Status.SENT)
        record(s, [Result(first, outcome)], T0, POLICY, random.Random(1), "w1")
    callback(factory, first, "SM1", Status.UNDELIVERED, "30003")  # retried: SM1 given up
    # Same body, handed over by a worker that died before its request left.
    second = _handed(factory, org_id, pid, "Same body", "dead", T0 + timedelta(seconds=1))
    with transaction(factory) as s:
        to, from_ = s.get(Message, second).to_phone, s.get(Message, second).from_phone
    listed = [ProviderMessage("SM1", to, from_, "Same body", Status.UNDELIVERED, T0, "30003")]
    assert _reconcile(factory, T0 + timedelta(seconds=10), listed) == [second]
    with transaction(factory) as s:
        m = s.get(Message, second)
        assert (m.status, m.provider_id) == ("queued", None)  # sent again, not stuck


def test_texts_stranded_by_two_crashes_to_one_number_do_not_defer_each_other(
    factory: Any,
) -> None:
    from sqlalchemy import update

    org_id, pid = setup_org(factory, mps=100)
    a = _handed(factory, org_id, pid, "Reminder A", "dead-1", T0)
    b = _handed(factory, org_id, pid, "Reminder B", "dead-2", T0)
    with transaction(factory) as s:  # two crashes: leases run out a second apart
        s.execute(
            update(Message).where(Message.id == a).values(lease_until=T0 + timedelta(seconds=6))
        )
        s.execute(
            update(Message).where(Message.id == b).values(lease_until=T0 + timedelta(seconds=7))
        )
    now = T0 + timedelta(seconds=6.5)
    while now < T0 + timedelta(seconds=120):
        _reconcile(factory, now, [])
        now += timedelta(seconds=0.5)
    with transaction(factory) as s:
        assert {s.get(Message, a).status, s.get(Message, b).status} == {"queued"}


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite: one writer
def test_a_callback_and_the_send_answer_apply_one_after_the_other(factory: Any) -> None:
    """PostgreSQL: a delivered callback committed while the dispatcher records the send
    answer is not overwritten (the dispatcher waits for the row, then sees delivered)."""
    import threading

    org_id, pid = setup_org(factory, mps=100)
    (mid,) = queue(factory, org_id, pid, "hello")
    claim(factory, T0)
    with transaction(factory) as s:
        assert hand_off(s, [mid], "w1", T0) == {mid}
    done = threading.Event()

    def dispatcher_records() -> None:
        with transaction(factory) as s:
            outcome = _outcome(reachable=True, provider_id="SM1", status=Status.SENT)
            record(s, [Result(mid, outcome)], T0, POLICY, random.Random(1), "w1")
        done.set()

    with factory() as s, s.begin():
        report = StatusReport("SM1", Status.DELIVERED, None, "delivered")
        receive_callback(s, report, mid, T0, POLICY, random.Random(1))  # holds the row
        thread = threading.Thread(target=dispatcher_records)
        thread.start()
        assert not done.wait(1.0), "the dispatcher wrote the row while the callback held it"
    thread.join(timeout=30)
    assert done.is_set()
    with transaction(factory) as s:
        m = s.get(Message, mid)
        assert (m.status, m.provider_id) == ("delivered", "SM1")
