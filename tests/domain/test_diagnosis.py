"""Why a message is not delivered, and what to do: every example of SPEC §2."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clinictext.domain.checklist import Verification
from clinictext.domain.connector import ConnectorState
from clinictext.domain.diagnosis import MessageFacts, diagnose
from clinictext.domain.statuses import Status

NOW = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)  # 10:00 in Los Angeles


def facts(status: Status, **kw: object) -> MessageFacts:
    base: dict[str, object] = {
        "direction": "outbound",
        "now": NOW,
        "timezone": "America/Los_Angeles",
    }
    base.update(kw)
    return MessageFacts(status=status, **base)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [Status.DELIVERED])
def test_delivered_has_no_diagnosis(status: Status) -> None:
    assert diagnose(facts(status)) is None


def test_received_has_no_diagnosis() -> None:
    assert diagnose(facts(Status.RECEIVED, direction="inbound")) is None


@pytest.mark.parametrize("status", [Status.QUEUED, Status.SENDING])
def test_pending_while_the_connector_is_down_says_since_when_and_resends(status: Status) -> None:
    d = diagnose(
        facts(
            status,
            connector=ConnectorState.DOWN,
            connector_since=datetime(2026, 3, 2, 17, 42, tzinfo=UTC),  # 09:42 local
        )
    )
    assert d is not None
    assert (
        d.summary == "Pending because the SMS provider is unreachable (connector down since 09:42)."
    )
    assert "resends by itself" in d.fix
    assert "check the provider credentials and refresh the connector" in d.fix


def test_pending_behind_a_landline_sender_awaiting_confirmation() -> None:
    d = diagnose(
        facts(Status.QUEUED, sender_kind="landline", sender_verification=Verification.PENDING)
    )
    assert d is not None
    assert "landline number still awaiting confirmation by the provider" in d.summary


def test_pending_behind_a_sender_that_failed_verification() -> None:
    d = diagnose(
        facts(Status.QUEUED, sender_kind="toll_free", sender_verification=Verification.FAILED)
    )
    assert d is not None
    assert "could not verify" in d.summary


def test_held_for_the_send_window_says_when_it_goes_out() -> None:
    due = datetime(2026, 3, 3, 16, 0, tzinfo=UTC)  # 08:00 tomorrow in Los Angeles
    d = diagnose(facts(Status.SCHEDULED, due_at=due))
    assert d is not None
    assert "held for the send window" in d.summary
    assert "goes out at 2026-03-03 08:00" in d.summary


def test_retrying_after_a_transient_error_says_when_and_why() -> None:
    d = diagnose(
        facts(
            Status.QUEUED,
            due_at=NOW + timedelta(seconds=30),
            last_detail="retrying in 30 s: the SMS provider is unreachable",
        )
    )
    assert d is not None
    assert d.summary == "Pending: retrying at 10:00 after the SMS provider is unreachable."


def test_queued_and_due_goes_out_by_itself() -> None:
    d = diagnose(facts(Status.QUEUED, due_at=NOW))
    assert d is not None
    assert d.summary.startswith("Pending")


def test_sent_but_never_confirmed() -> None:
    d = diagnose(facts(Status.SENT))
    assert d is not None
    assert "carrier has not confirmed delivery" in d.summary
    assert "some carriers never confirm" in d.summary


@pytest.mark.parametrize("code", ["21211", "21614", "30005", "30006"])
def test_failed_for_an_invalid_or_landline_phone(code: str) -> None:
    d = diagnose(facts(Status.FAILED, error_code=code))
    assert d is not None
    assert d.summary.startswith("Failed: the patient's wireless phone is invalid or a landline")
    assert d.fix == "Edit the patient's wireless phone and retry."


def test_failed_as_spam_points_at_links_and_the_lint() -> None:
    d = diagnose(facts(Status.UNDELIVERED, error_code="30007"))
    assert d is not None
    assert d.summary == "Failed: the carrier filtered it as spam (error 30007)."
    assert "Remove links" in d.fix and "lint" in d.fix


def test_failed_because_the_recipient_opted_out_at_the_carrier() -> None:
    d = diagnose(facts(Status.FAILED, error_code="21610"))
    assert d is not None
    assert d.summary == (
        "Failed: the recipient opted out at the carrier (consent has been updated to opted out)."
    )
    assert "START" in d.fix


def test_failed_after_the_validity_period() -> None:
    d = diagnose(
        facts(
            Status.FAILED,
            error_code="expired",
            error_message="Could not be handed to the SMS provider within 4 hours "
            "(last problem: the SMS provider is unreachable)",
        )
    )
    assert d is not None
    assert "within 4 hours" in d.summary
    assert "refresh" in d.fix


def test_failed_with_an_unknown_code_still_explains() -> None:
    d = diagnose(facts(Status.FAILED, error_code="99999", error_message="Something odd"))
    assert d is not None
    assert "99999" in d.summary and "Something odd" in d.summary


def test_canceled_says_so() -> None:
    d = diagnose(facts(Status.CANCELED))
    assert d is not None
    assert d.summary.startswith("Canceled")


@pytest.mark.parametrize("status", [Status.QUEUED, Status.SCHEDULED])
def test_a_text_of_a_paused_campaign_says_it_is_held_until_resumed(status: Status) -> None:
    d = diagnose(facts(status, campaign=True, due_at=None))
    assert d is not None
    assert d.summary == "Pending: held because its campaign is paused."
    assert "Resume the campaign" in d.fix
    # A staff text without a due time is simply about to go.
    plain = diagnose(facts(Status.QUEUED, due_at=None))
    assert plain is not None and "about to be handed" in plain.summary
