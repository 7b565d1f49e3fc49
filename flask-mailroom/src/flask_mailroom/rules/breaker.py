"""A circuit breaker for the mail server: when it cannot be reached, stop trying and probe instead.

Flask-free: the current time (seconds on any monotonic scale) and the random source are passed in.
Closed, every connection may try. After ``threshold`` consecutive connection failures it opens:
nobody tries until a delay (exponential in the number of openings, with jitter, capped) has
passed; then exactly one caller is let through as the probe (half-open). The probe's success closes
the breaker; its failure opens it again for longer.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass


class BreakerState(enum.StrEnum):
    """Where the breaker is."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass
class CircuitBreaker:
    """Consecutive connection failures open it; one probe at a time closes it again."""

    base_seconds: float = 1.0
    max_seconds: float = 30.0
    threshold: int = 1
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    openings: int = 0
    retry_at: float = 0.0

    def allow(self, now: float) -> bool:
        """Whether a caller may connect now; the first caller after the delay becomes the probe."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN and now >= self.retry_at:
            self.state = BreakerState.HALF_OPEN
            return True
        return False

    def wait(self, now: float) -> float:
        """Seconds a caller that was refused should wait before asking again."""
        if self.state is BreakerState.OPEN:
            return max(0.0, self.retry_at - now)
        return min(self.base_seconds, 0.5)

    def succeeded(self) -> None:
        """A connection worked: close."""
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.openings = 0

    def failed(self, now: float, rng: random.Random) -> None:
        """A connection failed: open after ``threshold`` in a row, or at once when it was the probe.

        Failures of connections that tried together with the one that opened it change nothing.
        """
        self.failures += 1
        if self.state is BreakerState.OPEN:
            return
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.threshold:
            self._open(now, rng)

    def abandoned(self) -> None:
        """The probe never tried (nothing to send): let the next caller probe instead."""
        if self.state is BreakerState.HALF_OPEN:
            self.state = BreakerState.OPEN

    def delay(self, rng: random.Random) -> float:
        """How long the next opening lasts: half fixed, half jitter, doubling up to the cap."""
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(0, self.openings - 1))
        return float(ceiling / 2 + rng.uniform(0, ceiling / 2))

    def _open(self, now: float, rng: random.Random) -> None:
        """Open (again) for one more delay."""
        self.openings += 1
        self.state = BreakerState.OPEN
        self.retry_at = now + self.delay(rng)
