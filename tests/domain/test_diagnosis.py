"""Tests for clinictext.domain.diagnosis: why a message is not delivered, and what to do.

SPEC §2: every message that is not delivered has a diagnosis, one sentence saying why and one
saying what to do; a delivered or received message has none.
"""

from datetime import UTC, datetime

import pytest

from clinictext.domain.diagnosis import Diagnosis, MessageFacts, diagnose
from clinictext.domain.statuses import Status


def _outbound(status: str, **kw) -> MessageFacts:
    return MessageFacts(status=Status(status), direction="outbound", **kw)


def test_delivered_message_has_no_diagnosis():
    assert diagnose(_outbound("delivered")) is None


def test_received_inbound_message_has_no_diagnosis():
    assert diagnose(MessageFacts(status=Status.RECEIVED, direction="inbound")) is None


@pytest.mark.parametrize(
    "facts",
    [
        _outbound("scheduled"),
        _outbound("scheduled", due_at=datetime(2024, 5, 2, 15, 0, tzinfo=UTC)),
        _outbound("queued"),
        _outbound("sending"),
        _outbound("sent"),
        _outbound("undelivered", error_code="30003", error_message="Unreachable handset"),
        _outbound("failed", error_code="21211", error_message="Invalid 'To' phone number"),
        _outbound("failed"),
        _outbound("canceled"),
    ],
    ids=lambda f: f"{f.status.value}{'-' + f.error_code if f.error_code else ''}",
)
def test_message_not_delivered_has_a_reason_and_a_fix(facts):
    diagnosis = diagnose(facts)
    assert isinstance(diagnosis, Diagnosis)
    for sentence in (diagnosis.summary, diagnosis.fix):
        assert sentence.strip()
        assert sentence[0].isupper()
        assert sentence.endswith(".")


@pytest.mark.parametrize("status", ["scheduled", "queued", "sending"])
def test_message_waiting_to_go_out_is_diagnosed_as_pending(status):
    assert diagnose(_outbound(status)).summary.startswith("Pending")


def test_scheduled_message_says_when_it_goes_out():
    diagnosis = diagnose(_outbound("scheduled", due_at=datetime(2024, 5, 2, 15, 0, tzinfo=UTC)))
    assert "15:00" in diagnosis.summary
    assert "held" in diagnosis.summary


def test_scheduled_message_can_be_canceled_if_unwanted():
    assert "Cancel" in diagnose(_outbound("scheduled")).fix


def test_sent_message_says_the_carrier_has_not_confirmed_delivery():
    diagnosis = diagnose(_outbound("sent"))
    assert diagnosis.summary.startswith("Sent")
    assert "not confirmed" in diagnosis.summary
    assert "some carriers never confirm" in diagnosis.summary


@pytest.mark.parametrize("status", ["failed", "undelivered"])
def test_failed_message_diagnosis_names_the_error_code(status):
    diagnosis = diagnose(_outbound(status, error_code="30007", error_message="Message filtered"))
    assert diagnosis.summary.startswith("Failed")
    assert "30007" in diagnosis.summary
    assert "Message filtered" in diagnosis.summary


def test_failed_message_fix_points_at_the_wireless_phone():
    diagnosis = diagnose(_outbound("failed", error_code="21211", error_message="Invalid number"))
    assert "wireless phone" in diagnosis.fix


def test_canceled_message_says_it_was_canceled_and_how_to_send_again():
    diagnosis = diagnose(_outbound("canceled"))
    assert "Canceled" in diagnosis.summary
    assert "new text" in diagnosis.fix
