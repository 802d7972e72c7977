"""When to try a text again after a transient failure, and when to give up."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

# The error code of a text that was still failing when its validity period ended.
EXPIRED = "expired"


@dataclass(frozen=True)
class RetryPolicy:
    base: timedelta = timedelta(seconds=2)
    ceiling: timedelta = timedelta(minutes=5)
    validity: timedelta = timedelta(hours=4)

    def delay(self, attempts: int, rng: random.Random) -> timedelta:
        """Exponential backoff with jitter around the nominal delay (0.5x to 1.5x)."""
        nominal = min(self.ceiling, self.base * (2 ** max(attempts - 1, 0)))
        return nominal * rng.uniform(0.5, 1.5)

    def expired(self, created_at: datetime, expires_at: datetime | None, now: datetime) -> bool:
        """True once the text is older than its validity period: stop retrying."""
        return now >= (expires_at or created_at + self.validity)
