"""When to try a failed delivery again: exponential backoff with full jitter, capped."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: base * 2**(attempt-1), capped, with jitter drawn from ``rng``."""

    base_seconds: float
    max_seconds: float
    max_attempts: int

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after the given (1-based) failed attempt: half fixed, half jitter."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(0, attempt - 1))
        return float(ceiling / 2 + rng.uniform(0, ceiling / 2))

    def next_attempt(self, attempt: int, now: datetime, rng: random.Random) -> datetime | None:
        """When to try again, or None when the attempts are used up."""
        if attempt >= self.max_attempts:
            return None
        return now + timedelta(seconds=self.delay(attempt, rng))
