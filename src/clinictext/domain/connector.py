"""The connector's state (up, degraded, down), derived from the provider's recent answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class ConnectorState(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True)
class Attempt:
    at: datetime
    reachable: bool  # the provider answered (even with a per-message error)


@dataclass(frozen=True)
class ConnectorView:
    state: ConnectorState
    since: datetime | None
    last_success_at: datetime | None


# Consecutive failures that make the connector "down" rather than "degraded".
DOWN_AFTER = 3
# How far back failures still make an answering connector "degraded".
RECENT = timedelta(minutes=2)
DEGRADED_RATIO = 0.2


def derive(attempts: Sequence[Attempt], now: datetime) -> ConnectorView:
    """State from attempts, newest first."""
    if not attempts:
        return ConnectorView(ConnectorState.UP, None, None)
    last_success = next((a.at for a in attempts if a.reachable), None)
    streak = 0
    for a in attempts:
        if a.reachable != attempts[0].reachable:
            break
        streak += 1
    streak_start = attempts[streak - 1].at
    if not attempts[0].reachable:
        state = ConnectorState.DOWN if streak >= DOWN_AFTER else ConnectorState.DEGRADED
        return ConnectorView(state, streak_start, last_success)
    recent = [a for a in attempts if now - a.at <= RECENT]
    failures = sum(1 for a in recent if not a.reachable)
    if recent and failures / len(recent) >= DEGRADED_RATIO:
        first_failure = min(a.at for a in recent if not a.reachable)
        return ConnectorView(ConnectorState.DEGRADED, first_failure, last_success)
    return ConnectorView(ConnectorState.UP, streak_start, last_success)
