"""Tests for clinictext.domain.statuses: the monotonic status machine and staff labels.

SPEC §2: outbound scheduled → queued → sending → sent → delivered | undelivered, or failed,
or canceled; status never moves backwards; staff see Pending (scheduled, queued, sending,
sent), Delivered, Failed (undelivered, failed). The order used by the model below is written
out here from SPEC §2, not read from the module.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinictext.domain.statuses import Status, advance, can_cancel, is_final, label

# SPEC §2's order, independently of statuses.RANK.
ORDER = {"scheduled": 0, "queued": 1, "sending": 2, "sent": 3}
FINAL_STATUSES = ("delivered", "undelivered", "failed", "canceled")
OUTBOUND = [Status(s) for s in (*ORDER, *FINAL_STATUSES)]


def _rank(status: Status) -> int:
    return ORDER.get(status.value, 4)


@pytest.mark.parametrize(
    ("current", "reported", "after"),
    [
        ("scheduled", "queued", "queued"),
        ("queued", "sending", "sending"),
        ("sending", "sent", "sent"),
        ("sent", "delivered", "delivered"),
        ("sent", "undelivered", "undelivered"),
        ("sending", "failed", "failed"),
        ("queued", "canceled", "canceled"),
        ("scheduled", "canceled", "canceled"),
        ("queued", "delivered", "delivered"),  # a skipped callback changes nothing
    ],
)
def test_status_moves_forward(current, reported, after):
    assert advance(Status(current), Status(reported)) is Status(after)


@pytest.mark.parametrize(
    ("current", "reported"),
    [
        ("delivered", "sent"),
        ("delivered", "sending"),
        ("delivered", "queued"),
        ("sent", "sending"),
        ("sent", "queued"),
        ("sending", "queued"),
        ("queued", "scheduled"),
        ("undelivered", "sent"),
        ("failed", "sending"),
    ],
)
def test_late_callback_never_moves_status_backwards(current, reported):
    assert advance(Status(current), Status(reported)) is Status(current)


def test_delivered_then_late_sent_stays_delivered():
    status = advance(Status.SENT, Status.DELIVERED)
    assert advance(status, Status.SENT) is Status.DELIVERED


@pytest.mark.parametrize("final", FINAL_STATUSES)
@pytest.mark.parametrize("reported", [*ORDER, *FINAL_STATUSES])
def test_final_status_never_changes(final, reported):
    assert advance(Status(final), Status(reported)) is Status(final)


@pytest.mark.parametrize("status", [*ORDER, *FINAL_STATUSES])
def test_duplicated_callback_changes_nothing(status):
    assert advance(Status(status), Status(status)) is Status(status)


@pytest.mark.parametrize("current", list(ORDER))
def test_outbound_message_never_becomes_received(current):
    assert advance(Status(current), Status.RECEIVED) is Status(current)


@pytest.mark.parametrize("reported", [*ORDER, *FINAL_STATUSES])
def test_inbound_message_keeps_its_one_status(reported):
    assert advance(Status.RECEIVED, Status(reported)) is Status.RECEIVED


@given(st.lists(st.sampled_from(OUTBOUND), max_size=30))
def test_any_callback_order_ends_at_the_highest_status_seen(reported):
    result = Status.QUEUED
    for status in reported:
        result = advance(result, status)

    # Model from SPEC §2: the highest-ranked status seen wins; once a final status is
    # reached nothing changes, so among final ones the first to arrive wins.
    seen = [Status.QUEUED, *reported]
    top = max(_rank(s) for s in seen)
    expected = next(s for s in seen if _rank(s) == top)
    assert result is expected


@given(st.lists(st.sampled_from(OUTBOUND), max_size=30))
def test_status_rank_never_decreases_step_by_step(reported):
    current = Status.QUEUED
    for status in reported:
        after = advance(current, status)
        assert _rank(after) >= _rank(current)
        if _rank(current) == 4:
            assert after is current
        current = after


@pytest.mark.parametrize(
    ("status", "shown"),
    [
        ("scheduled", "Pending"),
        ("queued", "Pending"),
        ("sending", "Pending"),
        ("sent", "Pending"),
        ("delivered", "Delivered"),
        ("undelivered", "Failed"),
        ("failed", "Failed"),
    ],
)
def test_staff_see_pending_delivered_or_failed(status, shown):
    assert label(Status(status)) == shown


@pytest.mark.parametrize(
    ("status", "cancelable"),
    [
        ("scheduled", True),
        ("queued", True),
        ("sending", False),
        ("sent", False),
        ("delivered", False),
        ("undelivered", False),
        ("failed", False),
        ("canceled", False),
        ("received", False),
    ],
)
def test_only_messages_not_yet_handed_to_the_provider_can_be_canceled(status, cancelable):
    assert can_cancel(Status(status)) is cancelable


@pytest.mark.parametrize(
    ("status", "final"),
    [
        ("scheduled", False),
        ("queued", False),
        ("sending", False),
        ("sent", False),
        ("delivered", True),
        ("undelivered", True),
        ("failed", True),
        ("canceled", True),
        ("received", True),
    ],
)
def test_delivered_undelivered_failed_canceled_and_received_are_final(status, final):
    assert is_final(Status(status)) is final


def test_a_retry_starts_a_new_attempt_and_each_attempt_moves_forward_only() -> None:
    from clinictext.domain.statuses import attempt_numbers

    history = [
        Status.QUEUED,
        Status.SENDING,
        Status.SENT,
        Status.QUEUED,  # 30003: retried
        Status.SENDING,
        Status.DELIVERED,
    ]
    assert attempt_numbers(history) == [1, 1, 1, 2, 2, 2]
    assert attempt_numbers([Status.SCHEDULED, Status.QUEUED, Status.CANCELED]) == [1, 1, 1]
    assert attempt_numbers([]) == []
