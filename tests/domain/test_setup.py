"""Tests for clinictext.domain.setup: what still stops an organization from texting.

Each test starts from an organization that is fully set up and takes one thing away, then
asserts that exactly that item is listed, with its fix and the section that fixes it.
"""

from dataclasses import replace
from decimal import Decimal

import pytest

from clinictext.domain.checklist import (
    Channel,
    Registration,
    SenderFact,
    SendKind,
    TextingFacts,
    Verification,
    evaluate,
)
from clinictext.domain.consent import NO_CONSENT
from clinictext.domain.phones import PhoneStatus
from clinictext.domain.setup import NumberFact, SetupFacts, SetupItem, evaluate_setup, ready

LEAD = NumberFact("+14155550101", Channel.LEAD, "long_code", Verification.VERIFIED)
CLINIC = NumberFact("+14155550102", Channel.CLINIC, "long_code", Verification.VERIFIED)
READY = SetupFacts(
    sms_enabled=True,
    registration=Registration.APPROVED,
    numbers=[LEAD, CLINIC],
    clinic_phone="+14155550100",
    spend_limit_cents=5000,
    month_spend_micros=1_000_000,
    active_staff=2,
)
NEW_ORG = SetupFacts(
    sms_enabled=False,
    registration=Registration.NONE,
    numbers=[],
    clinic_phone=None,
    spend_limit_cents=None,
    month_spend_micros=0,
    active_staff=0,
)


def ids(items: list[SetupItem]) -> list[str]:
    return [item.id for item in items]


def only(facts: SetupFacts) -> SetupItem:
    items = evaluate_setup(facts)
    assert len(items) == 1, items
    return items[0]


def checklist_check(facts: SetupFacts, channel: Channel, check_id: str) -> tuple[str, str]:
    """What the can-text checklist itself says for this organization."""
    texting = TextingFacts(
        sms_enabled=facts.sms_enabled,
        registration=facts.registration,
        channel=channel,
        kind=SendKind.MANUAL,
        senders=[
            SenderFact(n.number, n.kind, n.verification)
            for n in facts.numbers
            if n.purpose is channel
        ],
        phone=None,
        phone_status=PhoneStatus.MISSING,
        phone_reason="",
        consent=NO_CONSENT,
        lead_stage=None,
        lead_substatus=None,
        month_spend_usd=Decimal(facts.month_spend_micros) / 1_000_000,
        spend_limit_usd=None
        if facts.spend_limit_cents is None
        else Decimal(facts.spend_limit_cents) / 100,
    )
    check = next(c for c in evaluate(texting) if c.id == check_id)
    assert not check.ok
    return check.detail, check.fix or ""


def test_a_fully_set_up_organization_has_nothing_left_and_is_ready() -> None:
    assert evaluate_setup(READY) == []
    assert ready([])


def test_a_new_organization_lists_every_missing_piece_blocking_ones_first() -> None:
    items = evaluate_setup(NEW_ORG)
    assert ids(items) == [
        "sms_enabled",
        "registration",
        "clinic_number",
        "lead_number",
        "clinic_phone",
        "staff_users",
    ]
    assert [item.blocks for item in items] == [True, True, True, True, False, False]
    assert not ready(items)
    assert all(item.detail and item.fix for item in items)


def test_texting_disabled_is_said_in_the_checklists_words_and_points_to_texting() -> None:
    item = only(replace(READY, sms_enabled=False))
    detail, fix = checklist_check(replace(READY, sms_enabled=False), Channel.CLINIC, "sms_enabled")
    assert item.id == "sms_enabled" and item.blocks and item.section == "texting"
    assert item.detail == detail == "Texting is not enabled for this organization."
    assert item.fix.startswith(fix)
    assert "Texting enabled" in item.fix


@pytest.mark.parametrize(
    ("registration", "words"),
    [
        (Registration.NONE, "has not been started"),
        (Registration.PENDING, "is still waiting for carrier approval"),
        (Registration.REJECTED, "was rejected by the carriers"),
    ],
)
def test_a_registration_not_approved_says_where_it_stands(
    registration: Registration, words: str
) -> None:
    facts = replace(READY, registration=registration)
    item = only(facts)
    _, fix = checklist_check(facts, Channel.CLINIC, "sms_enabled")
    assert item.id == "registration" and item.blocks and item.section == "texting"
    assert words in item.detail
    assert item.fix.startswith(fix)


def test_texting_disabled_and_registration_missing_are_two_items_not_one() -> None:
    items = evaluate_setup(replace(READY, sms_enabled=False, registration=Registration.PENDING))
    assert ids(items) == ["sms_enabled", "registration"]
    # Texting is off: the registration item must not claim it is enabled.
    assert "Texting is enabled" not in items[1].detail


@pytest.mark.parametrize("channel", [Channel.LEAD, Channel.CLINIC])
def test_no_number_for_a_channel_is_listed_with_the_checklists_fix(channel: Channel) -> None:
    facts = replace(READY, numbers=[n for n in READY.numbers if n.purpose is not channel])
    item = only(facts)
    detail, fix = checklist_check(facts, channel, "sender_number")
    assert item.id == f"{channel.value}_number" and item.blocks and item.section == "numbers"
    assert item.detail.startswith(detail)
    assert item.fix == fix
    assert "cannot go out" in item.detail


def test_a_number_waiting_for_confirmation_says_so_and_to_wait() -> None:
    landline = NumberFact("+14155550103", Channel.CLINIC, "landline", Verification.PENDING)
    item = only(replace(READY, numbers=[LEAD, landline]))
    assert item.id == "clinic_number"
    assert "landline number still waiting for confirmation" in item.detail
    assert item.fix.startswith("Wait for the provider to confirm the number")


def test_a_number_the_provider_could_not_verify_asks_for_another() -> None:
    failed = replace(LEAD, verification=Verification.FAILED)
    item = only(replace(READY, numbers=[failed, CLINIC]))
    assert item.id == "lead_number"
    assert "could not verify" in item.detail


def test_one_verified_number_is_enough_even_beside_a_pending_one() -> None:
    pending = NumberFact("+14155550104", Channel.CLINIC, "toll_free", Verification.PENDING)
    assert evaluate_setup(replace(READY, numbers=[LEAD, CLINIC, pending])) == []


def test_a_zero_spend_limit_stops_manual_texts() -> None:
    item = only(replace(READY, spend_limit_cents=0, month_spend_micros=0))
    assert item.id == "spend_limit" and item.blocks and item.section == "spend-limit"
    assert "$0.00" in item.detail
    assert "wait for the next month" not in item.fix  # waiting never helps a zero limit


def test_a_spend_limit_reached_this_month_is_said_in_the_checklists_words() -> None:
    facts = replace(READY, spend_limit_cents=5000, month_spend_micros=50_000_000)
    item = only(facts)
    detail, fix = checklist_check(facts, Channel.CLINIC, "spend_limit")
    assert item.id == "spend_limit" and item.blocks
    assert (item.detail, item.fix) == (detail, fix)
    assert "$50.00 of the $50.00 limit" in item.detail


@pytest.mark.parametrize("limit", [None, 5001])
def test_no_limit_or_one_not_reached_is_not_an_item(limit: int | None) -> None:
    assert (
        evaluate_setup(replace(READY, spend_limit_cents=limit, month_spend_micros=50_000_000)) == []
    )


def test_a_missing_clinic_phone_is_listed_but_does_not_stop_texting() -> None:
    item = only(replace(READY, clinic_phone=None))
    assert item.id == "clinic_phone" and not item.blocks and item.section == "clinic"
    assert ready([item])


def test_no_staff_accounts_is_listed_but_does_not_stop_texting() -> None:
    item = only(replace(READY, active_staff=0))
    assert item.id == "staff_users" and not item.blocks and item.section == "users"
