"""Tests for clinictext.domain.leads: active stages, stage-change rules, how stages read.

SPEC §1 (Lead): `open` and `in_progress` are active; `closed_won` may carry the sub-status
`scheduled`; `closed_lost` comes with a reason.
"""

import pytest

from clinictext.domain.leads import (
    LeadChangeRefused,
    LeadStage,
    check_change,
    describe,
    is_active,
)


@pytest.mark.parametrize(
    ("stage", "active"),
    [
        (LeadStage.OPEN, True),
        (LeadStage.IN_PROGRESS, True),
        (LeadStage.CLOSED_WON, False),
        (LeadStage.CLOSED_LOST, False),
        (None, False),
    ],
)
def test_only_open_and_in_progress_leads_are_active(stage, active):
    assert is_active(stage) is active


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_closing_as_lost_without_a_reason_is_refused(reason):
    with pytest.raises(LeadChangeRefused, match="reason"):
        check_change(LeadStage.CLOSED_LOST, None, reason)


def test_closing_as_lost_with_a_reason_is_accepted():
    check_change(LeadStage.CLOSED_LOST, None, "chose another clinic")


@pytest.mark.parametrize("stage", [LeadStage.OPEN, LeadStage.IN_PROGRESS, LeadStage.CLOSED_WON])
def test_reason_on_a_stage_other_than_lost_is_refused(stage):
    with pytest.raises(LeadChangeRefused, match="lost"):
        check_change(stage, None, "chose another clinic")


@pytest.mark.parametrize(
    ("stage", "substatus"),
    [
        (LeadStage.OPEN, None),
        (LeadStage.IN_PROGRESS, "1st contact"),
        (LeadStage.CLOSED_WON, "scheduled"),
        (LeadStage.CLOSED_WON, None),
    ],
)
def test_stage_change_without_a_reason_is_accepted_outside_lost(stage, substatus):
    check_change(stage, substatus, None)


def test_lead_change_refused_is_a_value_error():
    with pytest.raises(ValueError):
        check_change(LeadStage.CLOSED_LOST, None, None)


@pytest.mark.parametrize(
    ("stage", "substatus", "text"),
    [
        (LeadStage.CLOSED_WON, "scheduled", "closed won (scheduled)"),
        (LeadStage.IN_PROGRESS, "1st contact", "in progress (1st contact)"),
        (LeadStage.IN_PROGRESS, None, "in progress"),
        (LeadStage.OPEN, None, "open"),
        (LeadStage.CLOSED_LOST, "", "closed lost"),
        (None, None, "not a lead"),
    ],
)
def test_describe_reads_the_stage_as_staff_say_it(stage, substatus, text):
    assert describe(stage, substatus) == text
