"""Automatic reply wording and the frequency cap, as pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clinictext.domain.frequency import next_allowed
from clinictext.domain.replies import (
    DEFAULTS,
    ReplyContext,
    ReplyRefused,
    check_template,
    in_conversation,
    lead_reply_due,
    render,
)

T = datetime(2026, 3, 10, 15, 0, tzinfo=UTC)
CTX = ReplyContext("Bright Smiles Dental", "+14155550100")


def test_default_opt_out_confirmation_names_the_clinic_and_how_to_resubscribe() -> None:
    text = render("opt_out", None, CTX)
    assert text.startswith("Bright Smiles Dental:")
    assert "no more messages" in text and "START" in text


def test_help_has_every_required_part() -> None:
    text = render("help", None, CTX)
    for part in (
        "Bright Smiles Dental",
        "(415) 555-0100",
        "Msg & data rates may apply",
        "Reply STOP to opt out",
    ):
        assert part in text


def test_lead_closed_reply_gives_the_clinic_phone() -> None:
    assert "(415) 555-0100" in render("lead_closed", None, CTX)


def test_reworded_replies_must_keep_their_required_parts() -> None:
    assert check_template(
        "help", "{org} help: {phone}. Msg & data rates may apply. Reply STOP to opt out"
    ).startswith("{org}")
    with pytest.raises(ReplyRefused, match="START"):
        check_template("opt_out", "{org}: bye")
    with pytest.raises(ReplyRefused, match="fields"):
        check_template("lead_closed", "Call {phone} or {website}")
    assert set(DEFAULTS) == {"opt_out", "opt_in", "help", "lead_closed"}
    for kind, text in DEFAULTS.items():
        assert check_template(kind, text) == text


def test_lead_auto_reply_once_per_24_hours() -> None:
    assert lead_reply_due(None, T)
    assert not lead_reply_due(T, T + timedelta(hours=23, minutes=59))
    assert lead_reply_due(T, T + timedelta(hours=24))


def test_conversation_lasts_24_hours_after_the_patients_text() -> None:
    assert not in_conversation(None, T)
    assert in_conversation(T, T + timedelta(hours=24))
    assert not in_conversation(T, T + timedelta(hours=24, seconds=1))


def test_frequency_cap_defers_to_when_a_window_frees_up() -> None:
    assert next_allowed([], T, 1, 3) == T
    assert next_allowed([T], T + timedelta(hours=2), 1, 3) == T + timedelta(days=1)
    week = [T, T + timedelta(days=1), T + timedelta(days=2)]
    assert next_allowed(week, T + timedelta(days=3), 1, 3) == T + timedelta(days=7)
    assert next_allowed(week, T + timedelta(days=3), 5, 10) == T + timedelta(days=3)


def test_frequency_cap_must_allow_a_text() -> None:
    with pytest.raises(ValueError):
        next_allowed([], T, 0, 3)
