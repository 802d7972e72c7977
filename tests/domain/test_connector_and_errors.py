"""Connector state from recent attempts, and the carrier error catalogue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clinictext.domain.carrier_errors import Effect, is_transient, lookup
from clinictext.domain.connector import Attempt, ConnectorState, derive

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def attempts(*pattern: bool, step: float = 1.0) -> list[Attempt]:
    """Newest first: pattern[0] is the latest attempt, one ``step`` second apart."""
    return [Attempt(NOW - timedelta(seconds=i * step), ok) for i, ok in enumerate(pattern)]


def test_no_attempts_is_up() -> None:
    assert derive([], NOW).state is ConnectorState.UP


def test_three_failures_in_a_row_is_down_since_the_first_of_them() -> None:
    view = derive(attempts(False, False, False, True), NOW)
    assert view.state is ConnectorState.DOWN
    assert view.since == NOW - timedelta(seconds=2)
    assert view.last_success_at == NOW - timedelta(seconds=3)


def test_one_or_two_failures_is_degraded() -> None:
    assert derive(attempts(False, True, True), NOW).state is ConnectorState.DEGRADED
    assert derive(attempts(False, False, True), NOW).state is ConnectorState.DEGRADED


def test_answering_again_after_many_recent_failures_is_degraded_then_up() -> None:
    assert derive(attempts(True, False, False, False), NOW).state is ConnectorState.DEGRADED
    old = attempts(True, *([False] * 3), step=200)  # the failures are minutes old
    assert derive(old, NOW).state is ConnectorState.UP
    assert derive(attempts(*([True] * 10), False), NOW).state is ConnectorState.UP


@pytest.mark.parametrize(
    ("code", "transient", "effect"),
    [
        ("21211", False, Effect.PHONE_INVALID),
        ("21614", False, Effect.PHONE_LANDLINE),
        ("30005", False, Effect.PHONE_INVALID),
        ("30006", False, Effect.PHONE_LANDLINE),
        ("21610", False, Effect.OPT_OUT),
        ("30007", False, Effect.SPAM),
        ("30003", True, None),
        ("20429", True, None),
        ("20003", True, Effect.ACCOUNT),
    ],
)
def test_catalogue_entries(code: str, transient: bool, effect: Effect | None) -> None:
    entry = lookup(code)
    assert entry is not None
    assert (entry.transient, entry.effect) == (transient, effect)
    assert is_transient(code) is transient
    assert entry.meaning and entry.fix


def test_unknown_codes_are_not_transient() -> None:
    assert lookup("12345") is None and lookup(None) is None
    assert not is_transient("12345")
