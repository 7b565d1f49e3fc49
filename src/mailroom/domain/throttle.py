"""Sign-in throttling: free tries, then growing delays, then a temporary refusal.

Flask-free: the current time is passed in. A store keeps one ``ThrottleRecord`` per client and
one per account; ``ThrottlePolicy`` says whether an attempt may be judged now and what a failure
does to the record. The same rules apply to every key, so an unknown account reads exactly like
an existing one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ThrottleRecord:
    """Recent failures under one key, when the last one was, and whether the owner was told."""

    failures: int = 0
    last_failure: datetime | None = None
    locked_until: datetime | None = None
    notified: bool = False


@dataclass(frozen=True)
class ThrottlePolicy:
    """How many failures are free, how delays grow, when and for how long attempts are refused.

    Failures are forgotten ``window`` seconds after the last one: that ends an episode.
    """

    free_failures: int = 5
    base_delay: int = 2
    max_delay: int = 60
    lockout_after: int = 20
    lockout: int = 900
    window: int = 3600

    def fresh(self, record: ThrottleRecord | None, now: datetime) -> ThrottleRecord:
        """The record as it counts now: empty once its episode is over."""
        if record is None or record.last_failure is None:
            return ThrottleRecord()
        if now >= record.last_failure + timedelta(seconds=self.window):
            return ThrottleRecord()
        return record

    def delay(self, failures: int) -> int:
        """Seconds to wait after ``failures`` failures before the next attempt is judged."""
        if failures <= self.free_failures:
            return 0
        return int(min(self.max_delay, self.base_delay * 2 ** (failures - self.free_failures - 1)))

    def wait(self, record: ThrottleRecord | None, now: datetime) -> int:
        """Whole seconds before an attempt may be judged; zero when it may be judged now."""
        current = self.fresh(record, now)
        if current.last_failure is None:
            return 0
        until = current.last_failure + timedelta(seconds=self.delay(current.failures))
        if current.locked_until is not None:
            until = max(until, current.locked_until)
        return max(0, math.ceil((until - now).total_seconds()))

    def fail(self, record: ThrottleRecord | None, now: datetime) -> ThrottleRecord:
        """The record after one more failure; from ``lockout_after`` on, each one locks."""
        current = self.fresh(record, now)
        failures = current.failures + 1
        locked = now + timedelta(seconds=self.lockout) if failures >= self.lockout_after else None
        return replace(current, failures=failures, last_failure=now, locked_until=locked)

    def is_suspicious(self, record: ThrottleRecord) -> bool:
        """Whether the failures went past the free ones, which is worth telling the owner."""
        return record.failures > self.free_failures

    def lifetime(self, record: ThrottleRecord, now: datetime) -> int:
        """Seconds a store must keep the record; zero when it can be dropped."""
        if record.last_failure is None:
            return 0
        end = record.last_failure + timedelta(seconds=self.window)
        return max(0, math.ceil((end - now).total_seconds()))
