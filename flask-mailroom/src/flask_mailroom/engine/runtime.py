"""What every part of one worker reads: its application, name, clock, settings, stop flag and counters."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import Flask

from flask_mailroom.rules.leases import LeasePolicy
from flask_mailroom.settings import DeliverySettings
from flask_mailroom.store import state

# What counts as a message handled (its outcome recorded), for reports and ``drain``'s result.
HANDLED = ("sent", "failed", "retried", "skipped", "expired", "suppressed")


def handled(counts: Counter[str]) -> int:
    """How many messages in ``counts`` had their outcome recorded."""
    return sum(counts[key] for key in HANDLED)


@dataclass
class Runtime:
    """One worker's application and identity, its clock and pauses, its stop flag and its counters.

    ``sleeper`` waits between attempts when given (tests move a frozen clock); otherwise a pause
    lasts until it ends or ``stop`` is set.
    """

    app: Flask
    worker_id: str
    rng: random.Random
    stop: threading.Event
    stats: Counter[str]
    sleeper: Callable[[float], Any] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> datetime:
        """The application's clock."""
        return state(self.app).clock.now()

    def seconds(self) -> float:
        """The application's clock in seconds (for the breaker, the throttle and the rate limit)."""
        return self.now().timestamp()

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (returning early on stop), or let the injected sleeper move time."""
        if seconds <= 0:
            return
        if self.sleeper is not None:
            self.sleeper(seconds)
        else:
            self.stop.wait(seconds)

    def stopping(self) -> bool:
        """Whether the worker was asked to stop."""
        return self.stop.is_set()

    def settings(self) -> DeliverySettings:
        """The engine's settings, as the application has them now."""
        return state(self.app).delivery

    def batch_size(self) -> int:
        """The most rows one connection claims at a time (OUTBOX_BATCH_SIZE)."""
        return self.settings().batch_size

    def claim_ttl(self) -> timedelta:
        """How long a claim lasts before another worker may take the row over."""
        return timedelta(seconds=self.settings().claim_ttl)

    def lease_policy(self) -> LeasePolicy:
        """The lease rules from OUTBOX_CLAIM_TTL."""
        return LeasePolicy(self.claim_ttl())

    def count(self, key: str, amount: int = 1) -> None:
        """Add to a statistic (connections update them concurrently)."""
        with self.lock:
            self.stats[key] += amount

    def counts(self) -> Counter[str]:
        """A copy of the statistics as they are now."""
        with self.lock:
            return Counter(self.stats)
