"""Tests for clinictext.domain.checklist: can this patient be texted? (SPEC §3)

Every test starts from facts that pass every check and changes one thing, then asserts
that exactly the check the SPEC names fails, with the fix the SPEC's table gives.
"""

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinictext.domain.checklist import (
    Channel,
    Check,
    Registration,
    SenderFact,
    SendKind,
    TextingFacts,
    Verification,
    can_text,
    evaluate,
    required_level,
)
from clinictext.domain.consent import (
    NO_CONSENT,
    Consent,
    ConsentAction,
    ConsentEvent,
    ConsentLevel,
    ConsentState,
    OptInSource,
    OptOutSource,
    derive,
)
from clinictext.domain.leads import LeadStage
from clinictext.domain.phones import PhoneStatus

# SPEC §3's order, written out here rather than imported from the module.
SPEC_ORDER = ["sms_enabled", "sender_number", "phone", "consent", "lead_stage", "spend_limit"]

OPTED_IN_AT = datetime(2024, 1, 15, 10, 0, tzinfo=UTC)
OPTED_OUT_AT = datetime(2024, 2, 20, 18, 30, tzinfo=UTC)
CLINIC_NUMBER = SenderFact("+14155550100", "long_code", Verification.VERIFIED)


def opted_out(source) -> Consent:
    """The consent after one opt-out from ``source``, as the ledger derives it."""
    return derive([ConsentEvent(ConsentAction.OPT_OUT, str(source), OPTED_OUT_AT)])


def passing() -> TextingFacts:
    """A manual text on the clinic channel that every check lets through."""
    return TextingFacts(
        sms_enabled=True,
        registration=Registration.APPROVED,
        channel=Channel.CLINIC,
        kind=SendKind.MANUAL,
        senders=(CLINIC_NUMBER,),
        phone="+14155550123",
        phone_status=PhoneStatus.VALID,
        phone_reason="",
        consent=Consent(ConsentState.OPTED_IN, ConsentLevel.MARKETING, OPTED_IN_AT, "web_form"),
        lead_stage=None,
        lead_substatus=None,
        month_spend_usd=Decimal("12.50"),
        spend_limit_usd=Decimal("100.00"),
        message_cost_usd=Decimal("0.0079"),
    )


def passing_lead() -> TextingFacts:
    """A manual text on the lead channel to an open lead that every check lets through."""
    return replace(passing(), channel=Channel.LEAD, lead_stage=LeadStage.OPEN)


def by_id(facts: TextingFacts) -> dict[str, Check]:
    return {c.id: c for c in evaluate(facts)}


def only_failure(facts: TextingFacts) -> Check:
    """The one failing check; asserts every other check passes."""
    checks = evaluate(facts)
    failing = [c for c in checks if not c.ok]
    assert len(failing) == 1, checks
    assert not can_text(checks)
    return failing[0]


# The baseline ---------------------------------------------------------------------------


@pytest.mark.parametrize("facts", [passing(), passing_lead()], ids=["clinic", "lead"])
def test_patient_who_meets_every_rule_can_be_texted(facts):
    checks = evaluate(facts)
    assert [c.id for c in checks] == SPEC_ORDER
    assert all(c.ok for c in checks)
    assert all(c.detail for c in checks)
    assert can_text(checks)


def test_passing_sender_check_names_the_number_as_people_write_it():
    assert "(415) 555-0100" in by_id(passing())["sender_number"].detail


# sms_enabled --------------------------------------------------------------------------


def test_texting_disabled_fails_sms_enabled_with_enable_fix():
    check = only_failure(replace(passing(), sms_enabled=False))
    assert check.id == "sms_enabled"
    assert "not enabled" in check.detail
    assert "Enable SMS" in check.fix


@pytest.mark.parametrize(
    ("registration", "state"),
    [
        (Registration.NONE, "not been started"),
        (Registration.PENDING, "waiting for carrier approval"),
        (Registration.REJECTED, "rejected"),
    ],
)
def test_unapproved_carrier_registration_fails_sms_enabled(registration, state):
    check = only_failure(replace(passing(), registration=registration))
    assert check.id == "sms_enabled"
    assert state in check.detail
    assert "registration" in check.fix
    assert "support" in check.fix


# sender_number ------------------------------------------------------------------------


def test_no_sender_number_fails_with_add_a_number_fix():
    check = only_failure(replace(passing(), senders=()))
    assert check.id == "sender_number"
    assert "no clinic number" in check.detail
    assert check.fix.startswith("Add a clinic number")


def test_no_lead_number_names_the_lead_channel():
    check = only_failure(replace(passing_lead(), senders=()))
    assert check.id == "sender_number"
    assert "lead" in check.detail
    assert "Add a lead" in check.fix


@pytest.mark.parametrize("kind", ["landline", "toll_free"])
def test_only_a_pending_sender_fails_and_says_it_awaits_confirmation(kind):
    sender = SenderFact("+14155550100", kind, Verification.PENDING)
    check = only_failure(replace(passing(), senders=(sender,)))
    assert check.id == "sender_number"
    assert "waiting for confirmation" in check.detail
    assert kind.replace("_", "-") in check.detail
    assert "(415) 555-0100" in check.detail
    assert "Wait for the provider to confirm" in check.fix


def test_only_a_sender_that_failed_verification_fails_with_add_a_number_fix():
    sender = SenderFact("+14155550100", "long_code", Verification.FAILED)
    check = only_failure(replace(passing(), senders=(sender,)))
    assert check.id == "sender_number"
    assert "could not verify" in check.detail
    assert "Add a clinic number" in check.fix


def test_a_verified_sender_among_pending_ones_passes():
    pending = SenderFact("+14155550199", "landline", Verification.PENDING)
    facts = replace(passing(), senders=(pending, CLINIC_NUMBER))
    check = by_id(facts)["sender_number"]
    assert check.ok
    assert "(415) 555-0100" in check.detail


# phone --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"phone": None, "phone_status": PhoneStatus.MISSING}, id="missing"),
        pytest.param({"phone": None}, id="no-number-but-status-valid"),
        pytest.param({"phone_status": PhoneStatus.MISSING}, id="status-missing"),
    ],
)
def test_missing_wireless_phone_fails_with_edit_phone_fix(changes):
    check = only_failure(replace(passing(), **changes))
    assert check.id == "phone"
    assert "no wireless phone" in check.detail
    assert "Edit the patient's wireless phone" in check.fix


def test_landline_phone_fails_with_edit_phone_fix():
    facts = replace(
        passing(),
        phone="+442071838750",
        phone_status=PhoneStatus.LANDLINE,
        phone_reason="This number is a landline.",
    )
    check = only_failure(facts)
    assert check.id == "phone"
    assert "landline" in check.detail
    assert "020 7183 8750" in check.detail
    assert "Edit the patient's wireless phone" in check.fix


def test_invalid_phone_fails_with_the_reason_and_edit_phone_fix():
    facts = replace(
        passing(),
        phone="+15555550123",
        phone_status=PhoneStatus.INVALID,
        phone_reason="This number is not in service in its country.",
    )
    check = only_failure(facts)
    assert check.id == "phone"
    assert "invalid" in check.detail
    assert "not in service" in check.detail
    assert "Edit the patient's wireless phone" in check.fix


# consent ------------------------------------------------------------------------------


def test_patient_who_never_opted_in_fails_consent_with_ask_to_opt_in_fix():
    check = only_failure(replace(passing(), consent=NO_CONSENT))
    assert check.id == "consent"
    assert "not opted in" in check.detail
    assert "opt in" in check.fix


@pytest.mark.parametrize("source", [OptOutSource.KEYWORD, OptOutSource.CARRIER])
def test_patient_opted_out_at_their_phone_must_text_start(source):
    consent = opted_out(source.value)
    check = only_failure(replace(passing(), consent=consent))
    assert check.id == "consent"
    assert "opted out" in check.detail
    assert "2024-02-20" in check.detail
    assert "START" in check.fix
    assert "Only the patient" in check.fix
    assert "Record" not in check.fix


def test_keyword_opt_out_detail_says_the_patient_replied_stop():
    consent = opted_out("keyword")
    assert "STOP" in only_failure(replace(passing(), consent=consent)).detail


@pytest.mark.parametrize(
    "source", [OptOutSource.STAFF, OptOutSource.CAMPAIGN, OptOutSource.FREE_TEXT]
)
def test_opt_out_recorded_by_staff_can_be_followed_by_a_new_opt_in(source):
    consent = opted_out(source.value)
    check = only_failure(replace(passing(), consent=consent))
    assert check.id == "consent"
    assert "opted out" in check.detail
    assert "Record a new opt-in" in check.fix
    assert "START" in check.fix


def test_keyword_and_staff_opt_outs_give_different_fixes():
    def fix_for(source):
        consent = opted_out(source)
        return only_failure(replace(passing(), consent=consent)).fix

    assert fix_for("keyword") != fix_for("staff")


def test_informational_consent_fails_a_campaign():
    consent = Consent(ConsentState.OPTED_IN, ConsentLevel.INFORMATIONAL, OPTED_IN_AT, "web_form")
    check = only_failure(replace(passing(), kind=SendKind.CAMPAIGN, consent=consent))
    assert check.id == "consent"
    assert "marketing" in check.detail
    assert "marketing" in check.fix


@pytest.mark.parametrize("kind", [SendKind.MANUAL, SendKind.AUTOMATED])
def test_informational_consent_is_enough_for_care_texts(kind):
    consent = Consent(ConsentState.OPTED_IN, ConsentLevel.INFORMATIONAL, OPTED_IN_AT, "web_form")
    checks = evaluate(replace(passing(), kind=kind, consent=consent))
    assert can_text(checks)


def test_marketing_consent_passes_a_campaign():
    assert can_text(evaluate(replace(passing(), kind=SendKind.CAMPAIGN)))


@pytest.mark.parametrize(
    ("kind", "level"),
    [
        (SendKind.CAMPAIGN, ConsentLevel.MARKETING),
        (SendKind.MANUAL, ConsentLevel.INFORMATIONAL),
        (SendKind.AUTOMATED, ConsentLevel.INFORMATIONAL),
    ],
)
def test_campaigns_need_marketing_and_care_texts_informational_consent(kind, level):
    assert required_level(kind) is level


# lead_stage ---------------------------------------------------------------------------


def test_lead_channel_to_a_patient_who_is_not_a_lead_fails_with_clinic_channel_fix():
    check = only_failure(replace(passing_lead(), lead_stage=None))
    assert check.id == "lead_stage"
    assert "not a lead" in check.detail
    assert "clinic channel" in check.fix


@pytest.mark.parametrize(
    ("stage", "substatus", "reads"),
    [
        (LeadStage.CLOSED_WON, "scheduled", "closed won (scheduled)"),
        (LeadStage.CLOSED_WON, None, "closed won"),
        (LeadStage.CLOSED_LOST, None, "closed lost"),
    ],
)
def test_lead_channel_to_a_closed_lead_fails_with_clinic_channel_fix(stage, substatus, reads):
    check = only_failure(replace(passing_lead(), lead_stage=stage, lead_substatus=substatus))
    assert check.id == "lead_stage"
    assert reads in check.detail
    assert "clinic channel" in check.fix
    assert "auto-reply" in check.fix


@pytest.mark.parametrize(
    ("stage", "substatus"), [(LeadStage.OPEN, None), (LeadStage.IN_PROGRESS, "1st contact")]
)
def test_lead_channel_to_an_active_lead_passes(stage, substatus):
    facts = replace(passing_lead(), lead_stage=stage, lead_substatus=substatus)
    assert by_id(facts)["lead_stage"].ok


@pytest.mark.parametrize(
    "stage", [None, LeadStage.OPEN, LeadStage.CLOSED_WON, LeadStage.CLOSED_LOST]
)
def test_clinic_channel_ignores_the_lead_stage(stage):
    facts = replace(passing(), lead_stage=stage, lead_substatus="scheduled" if stage else None)
    assert by_id(facts)["lead_stage"].ok
    assert can_text(evaluate(facts))


# spend_limit --------------------------------------------------------------------------


@pytest.mark.parametrize("spent", ["100.00", "100.01", "250"])
def test_manual_text_at_or_over_the_spend_limit_fails(spent):
    check = only_failure(replace(passing(), month_spend_usd=Decimal(spent)))
    assert check.id == "spend_limit"
    assert "$100.00" in check.detail
    assert "Raise the monthly manual-text limit" in check.fix
    assert "next month" in check.fix
    assert "automated messages are not blocked" in check.fix


def test_manual_text_whose_cost_would_pass_the_limit_fails():
    facts = replace(passing(), month_spend_usd=Decimal("99.995"), message_cost_usd=Decimal("0.01"))
    check = only_failure(facts)
    assert check.id == "spend_limit"
    assert "would add $0.01" in check.detail


def test_manual_text_under_the_limit_passes_and_shows_the_spend():
    check = by_id(replace(passing(), month_spend_usd=Decimal("99.98")))["spend_limit"]
    assert check.ok
    assert "$99.98" in check.detail
    assert "$100.00" in check.detail


@pytest.mark.parametrize("kind", [SendKind.AUTOMATED, SendKind.CAMPAIGN])
def test_automated_and_campaign_texts_are_not_blocked_by_the_spend_limit(kind):
    facts = replace(passing(), kind=kind, month_spend_usd=Decimal("500"))
    assert by_id(facts)["spend_limit"].ok
    assert can_text(evaluate(facts))


def test_manual_text_with_no_spend_limit_passes():
    facts = replace(passing(), spend_limit_usd=None, month_spend_usd=Decimal("100000"))
    assert by_id(facts)["spend_limit"].ok


# Several failures at once, and the shape of the answer ------------------------------------


def test_every_failing_check_is_reported_at_once():
    facts = replace(
        passing(),
        sms_enabled=False,
        senders=(),
        phone=None,
        phone_status=PhoneStatus.MISSING,
        consent=NO_CONSENT,
        month_spend_usd=Decimal("100"),
    )
    checks = evaluate(facts)
    assert [c.id for c in checks if not c.ok] == [
        "sms_enabled",
        "sender_number",
        "phone",
        "consent",
        "spend_limit",
    ]


_numbers = st.sampled_from(["+14155550100", "+442071838750", "+447911123456", "+15555550123"])
_money = st.decimals(min_value=0, max_value=1000, places=2, allow_nan=False, allow_infinity=False)
_senders = st.lists(
    st.builds(
        SenderFact,
        _numbers,
        st.sampled_from(["long_code", "toll_free", "short_code", "landline"]),
        st.sampled_from(list(Verification)),
    ),
    max_size=3,
)
_consents = st.builds(
    Consent,
    st.sampled_from(list(ConsentState)),
    st.none() | st.sampled_from(list(ConsentLevel)),
    st.none() | st.just(OPTED_OUT_AT),
    st.none() | st.sampled_from([s.value for s in (*OptOutSource, *OptInSource)]),
)
random_facts = st.builds(
    TextingFacts,
    sms_enabled=st.booleans(),
    registration=st.sampled_from(list(Registration)),
    channel=st.sampled_from(list(Channel)),
    kind=st.sampled_from(list(SendKind)),
    senders=_senders,
    phone=st.none() | _numbers,
    phone_status=st.sampled_from(list(PhoneStatus)),
    phone_reason=st.sampled_from(["", "This number is a landline."]),
    consent=_consents,
    lead_stage=st.none() | st.sampled_from(list(LeadStage)),
    lead_substatus=st.none() | st.sampled_from(["scheduled", "1st contact"]),
    month_spend_usd=_money,
    spend_limit_usd=st.none() | _money,
    message_cost_usd=st.decimals(min_value=0, max_value=1, places=4),
)


@given(random_facts)
def test_checklist_always_returns_the_six_checks_in_spec_order(facts):
    checks = evaluate(facts)
    assert [c.id for c in checks] == SPEC_ORDER
    for check in checks:
        assert check.detail
        if not check.ok:
            assert check.fix, check
    assert can_text(checks) is all(c.ok for c in checks)
