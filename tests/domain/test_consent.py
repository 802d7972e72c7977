"""Tests for clinictext.domain.consent: current consent derived from the append-only ledger.

SPEC §1 (Consent): opt-ins carry a level (informational or marketing), opt-outs a source
(keyword, staff, campaign, carrier, free_text); the state is derived from the ledger; after
a keyword opt-out only the patient can opt back in. SPEC §3: campaigns need marketing.
"""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinictext.domain.consent import (
    NO_CONSENT,
    Consent,
    ConsentAction,
    ConsentEvent,
    ConsentLevel,
    ConsentRefused,
    ConsentState,
    OptInSource,
    OptOutSource,
    check_staff_opt_in,
    derive,
)

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
INFO = ConsentLevel.INFORMATIONAL
MKT = ConsentLevel.MARKETING


def opt_in(level=INFO, source="web_form", minutes=0):
    return ConsentEvent(ConsentAction.OPT_IN, source, T0 + timedelta(minutes=minutes), level)


def opt_out(source="keyword", minutes=0):
    return ConsentEvent(ConsentAction.OPT_OUT, source, T0 + timedelta(minutes=minutes))


# derive -------------------------------------------------------------------------------


def test_empty_ledger_means_no_consent():
    consent = derive([])
    assert consent.state is ConsentState.NONE
    assert consent.level is None
    assert consent == NO_CONSENT


def test_informational_opt_in_opts_the_patient_in_at_that_level():
    consent = derive([opt_in(INFO, "paper_form", minutes=5)])
    assert consent.state is ConsentState.OPTED_IN
    assert consent.level is INFO
    assert consent.since == T0 + timedelta(minutes=5)
    assert consent.source == "paper_form"


def test_opt_out_after_opt_in_opts_the_patient_out():
    consent = derive([opt_in(MKT, minutes=0), opt_out("staff", minutes=10)])
    assert consent.state is ConsentState.OPTED_OUT
    assert consent.level is None
    assert consent.since == T0 + timedelta(minutes=10)
    assert consent.source == "staff"


def test_opt_in_after_opt_out_opts_the_patient_back_in():
    consent = derive([opt_out("keyword", minutes=0), opt_in(INFO, "keyword", minutes=3)])
    assert consent.state is ConsentState.OPTED_IN
    assert consent.level is INFO
    assert consent.since == T0 + timedelta(minutes=3)


def test_later_informational_opt_in_keeps_marketing_consent():
    consent = derive([opt_in(MKT, minutes=0), opt_in(INFO, minutes=1)])
    assert consent.state is ConsentState.OPTED_IN
    assert consent.level is MKT
    assert consent.allows(MKT)


def test_marketing_opt_in_upgrades_informational_consent():
    consent = derive([opt_in(INFO, minutes=0), opt_in(MKT, "verbal", minutes=1)])
    assert consent.level is MKT
    assert consent.allows(MKT)


def test_marketing_consent_given_before_an_opt_out_does_not_come_back():
    consent = derive([opt_in(MKT, minutes=0), opt_out("staff", minutes=1), opt_in(INFO, minutes=2)])
    assert consent.state is ConsentState.OPTED_IN
    assert consent.level is INFO
    assert not consent.allows(MKT)


# Consent.allows -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("consent", "informational", "marketing"),
    [
        pytest.param(
            Consent(ConsentState.OPTED_IN, MKT, T0, "web_form"),
            True,
            True,
            id="marketing-allows-both",
        ),
        pytest.param(
            Consent(ConsentState.OPTED_IN, INFO, T0, "web_form"),
            True,
            False,
            id="informational-allows-care-texts-only",
        ),
        pytest.param(
            Consent(ConsentState.OPTED_OUT, None, T0, "keyword"),
            False,
            False,
            id="opted-out-allows-nothing",
        ),
        pytest.param(
            Consent(ConsentState.OPTED_OUT, MKT, T0, "staff"),
            False,
            False,
            id="opted-out-with-stale-level-allows-nothing",
        ),
        pytest.param(NO_CONSENT, False, False, id="no-consent-allows-nothing"),
        pytest.param(
            Consent(ConsentState.OPTED_IN, None, T0, "web_form"),
            False,
            False,
            id="opted-in-without-level-allows-nothing",
        ),
    ],
)
def test_allows_follows_the_consent_level(consent, informational, marketing):
    assert consent.allows(INFO) is informational
    assert consent.allows(MKT) is marketing


@pytest.mark.parametrize(
    ("source", "locked"),
    [
        ("keyword", True),
        ("carrier", True),
        ("staff", False),
        ("campaign", False),
        ("free_text", False),
    ],
)
def test_only_opt_outs_made_at_the_patients_phone_are_locked_by_the_patient(source, locked):
    assert derive([opt_in(), opt_out(source, minutes=1)]).locked_by_patient is locked


def test_opted_in_patient_is_not_locked():
    assert not derive([opt_out("keyword"), opt_in(INFO, "keyword", minutes=1)]).locked_by_patient


# check_staff_opt_in -------------------------------------------------------------------


def test_staff_cannot_record_an_opt_in_with_source_keyword():
    with pytest.raises(ConsentRefused, match="patient's own text"):
        check_staff_opt_in(NO_CONSENT, "keyword")


@pytest.mark.parametrize("source", ["sms", "", "KEYWORD"])
def test_staff_cannot_record_an_opt_in_with_an_unknown_source(source):
    with pytest.raises(ConsentRefused):
        check_staff_opt_in(NO_CONSENT, source)


def test_keyword_opt_out_cannot_be_lifted_by_staff():
    current = derive([opt_in(), opt_out("keyword", minutes=1)])
    with pytest.raises(ConsentRefused) as caught:
        check_staff_opt_in(current, "verbal")
    assert "START" in str(caught.value)
    assert "STOP" in str(caught.value)


def test_carrier_opt_out_cannot_be_lifted_by_staff():
    current = derive([opt_in(), opt_out("carrier", minutes=1)])
    with pytest.raises(ConsentRefused) as caught:
        check_staff_opt_in(current, "paper_form")
    assert "START" in str(caught.value)
    assert "carrier" in str(caught.value)


@pytest.mark.parametrize("opt_out_source", ["staff", "campaign", "free_text"])
@pytest.mark.parametrize("opt_in_source", ["web_form", "paper_form", "verbal", "import", "api"])
def test_staff_may_record_a_new_opt_in_after_a_non_keyword_opt_out(opt_out_source, opt_in_source):
    current = derive([opt_in(), opt_out(opt_out_source, minutes=1)])
    check_staff_opt_in(current, opt_in_source)  # does not raise


@pytest.mark.parametrize("opt_in_source", ["web_form", "paper_form", "verbal", "import", "api"])
def test_staff_may_record_a_first_opt_in(opt_in_source):
    check_staff_opt_in(NO_CONSENT, opt_in_source)


def test_staff_may_record_an_opt_in_after_the_patient_texted_start_again():
    current = derive([opt_out("keyword"), opt_in(INFO, "keyword", minutes=1)])
    check_staff_opt_in(current, "verbal")


def test_consent_refused_is_a_value_error():
    with pytest.raises(ValueError):
        check_staff_opt_in(NO_CONSENT, "keyword")


# Properties over random ledgers -------------------------------------------------------

_opt_in_events = st.builds(
    lambda source, level: (ConsentAction.OPT_IN, source.value, level),
    st.sampled_from(list(OptInSource)),
    st.sampled_from(list(ConsentLevel)),
)
_opt_out_events = st.builds(
    lambda source: (ConsentAction.OPT_OUT, source.value, None),
    st.sampled_from(list(OptOutSource)),
)
ledgers = st.lists(st.one_of(_opt_in_events, _opt_out_events), max_size=25).map(
    lambda items: [
        ConsentEvent(action, source, T0 + timedelta(minutes=i), level)
        for i, (action, source, level) in enumerate(items)
    ]
)


def _reference(events):
    """A plain reading of SPEC: (state, highest level since the last opt-out, patient lock).

    A patient's own opt-out (keyword, carrier) locks until the patient's START; staff
    opt-ins recorded while locked (never accepted, but an old ledger may hold one) count
    for nothing; later staff opt-outs keep the lock.
    """
    state, levels, lock = ConsentState.NONE, [], None
    for e in events:
        if e.action is ConsentAction.OPT_OUT:
            state, levels = ConsentState.OPTED_OUT, []
            if e.source in ("keyword", "carrier"):
                lock = e.source
            continue
        if lock is not None and e.source != "keyword":
            continue
        lock = None
        state = ConsentState.OPTED_IN
        levels.append(e.level)
    level = (MKT if MKT in levels else INFO) if levels else None
    return state, level, lock


@given(ledgers)
def test_consent_state_follows_the_reference_reading(events):
    consent = derive(events)
    state, level, lock = _reference(events)
    assert consent.state is state
    assert consent.level is level
    assert consent.patient_lock == lock
    if events and events[-1].action is ConsentAction.OPT_OUT:
        assert consent.source == events[-1].source
        assert consent.since == events[-1].at


@given(ledgers)
def test_marketing_consent_always_covers_informational_texts(events):
    consent = derive(events)
    if consent.allows(MKT):
        assert consent.allows(INFO)


@given(ledgers)
def test_allows_follows_the_level_granted_since_the_last_opt_out(events):
    consent = derive(events)
    state, level, _lock = _reference(events)
    assert consent.allows(MKT) is (state is ConsentState.OPTED_IN and level is MKT)
    assert consent.allows(INFO) is (state is ConsentState.OPTED_IN)


@given(ledgers)
def test_staff_can_lift_an_opt_out_unless_the_patient_made_it(events):
    consent = derive(events)
    _state, _level, lock = _reference(events)
    if lock is not None:
        with pytest.raises(ConsentRefused):
            check_staff_opt_in(consent, "verbal")
    else:
        check_staff_opt_in(consent, "verbal")


@pytest.mark.parametrize("staff_source", ["staff", "free_text", "campaign"])
@pytest.mark.parametrize("patient_source", ["keyword", "carrier"])
def test_a_staff_opt_out_after_the_patients_stop_keeps_the_patients_lock(
    patient_source, staff_source
):
    consent = derive(
        [
            ConsentEvent(ConsentAction.OPT_IN, "web_form", T0, INFO),
            ConsentEvent(ConsentAction.OPT_OUT, patient_source, T0 + timedelta(minutes=1)),
            ConsentEvent(ConsentAction.OPT_OUT, staff_source, T0 + timedelta(minutes=2)),
        ]
    )
    assert consent.locked_by_patient
    with pytest.raises(ConsentRefused, match="only the patient can opt back in"):
        check_staff_opt_in(consent, "verbal")


def test_a_staff_opt_in_recorded_under_a_patients_lock_counts_for_nothing():
    consent = derive(
        [
            ConsentEvent(ConsentAction.OPT_OUT, "keyword", T0),
            ConsentEvent(ConsentAction.OPT_OUT, "staff", T0 + timedelta(minutes=1)),
            ConsentEvent(ConsentAction.OPT_IN, "verbal", T0 + timedelta(minutes=2), INFO),
        ]
    )
    assert consent.state is ConsentState.OPTED_OUT
    assert not consent.allows(INFO)


def test_the_patients_start_lifts_the_lock_and_staff_may_record_consent_again():
    consent = derive(
        [
            ConsentEvent(ConsentAction.OPT_OUT, "keyword", T0),
            ConsentEvent(ConsentAction.OPT_OUT, "staff", T0 + timedelta(minutes=1)),
            ConsentEvent(ConsentAction.OPT_IN, "keyword", T0 + timedelta(minutes=2), INFO),
        ]
    )
    assert consent.allows(INFO) and not consent.locked_by_patient
    check_staff_opt_in(consent, "verbal")
