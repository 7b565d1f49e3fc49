"""How fast to send: a provider's rate limit as time slots, and slowing down when the server says so.

Flask-free: times are seconds on one scale, passed in. The rate limit is a generic cell rate
algorithm: a single number, the theoretical arrival time (``tat``) of the next message, says
when the next slot is free. Bulk mail takes a slot only when one is free now; account mail may
book a slot up to ``ahead`` seconds in the future and wait for it, so within the limit account
mail always goes first. The same decision runs in one process or, as a Lua script, in Redis.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0, "minute": 60.0,
         "h": 3600.0, "hour": 3600.0, "d": 86400.0, "day": 86400.0}
RATE = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d*)\s*([a-z]+?)s?\s*$", re.IGNORECASE)


class RateInvalid(ValueError):
    """A rate limit that cannot be read."""


@dataclass(frozen=True)
class Rate:
    """``count`` messages per ``seconds``."""

    count: int
    seconds: float

    @property
    def interval(self) -> float:
        """Seconds between two messages at this rate."""
        return self.seconds / self.count

    @property
    def per_second(self) -> float:
        """Messages per second."""
        return self.count / self.seconds


def parse_rate(text: str) -> Rate:
    """Read ``14/second``, ``14 per second``, ``600/minute``, ``50000/day`` or ``10/5s``."""
    found = RATE.match(text)
    unit = found.group(3).lower() if found else ""
    if found is None or unit not in UNITS or int(found.group(1)) <= 0:
        raise RateInvalid(f"not a rate: {text!r} (write it like 14/second or 600/minute)")
    return Rate(int(found.group(1)), UNITS[unit] * int(found.group(2) or 1))


@dataclass(frozen=True)
class Slot:
    """The answer to "may I send?": granted (after ``wait`` seconds) or not (ask after ``wait``)."""

    granted: bool
    wait: float
    tat: float


def take_slot(tat: float, now: float, interval: float, ahead: float) -> Slot:
    """Grant the next free slot if it starts within ``ahead`` seconds; the new ``tat`` if granted."""
    start = max(tat, now)
    if start - now > ahead:
        return Slot(False, start - now - ahead, tat)
    return Slot(True, start - now, start + interval)


def ahead_for(account: bool, interval: float) -> float:
    """How far ahead a message may book: bulk never, account mail two slots (at least 1 s)."""
    return max(1.0, 2 * interval) if account else 0.0


@dataclass
class Throttle:
    """A server that answers "slow down" (421, 451, 454) pauses the whole worker, longer each time."""

    base_seconds: float = 1.0
    max_seconds: float = 60.0
    strikes: int = 0
    resume_at: float = 0.0

    def hit(self, now: float, rng: random.Random) -> float:
        """Record a throttling reply; the pause it causes (half fixed, half jitter, doubling)."""
        self.strikes += 1
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** (self.strikes - 1))
        pause = float(ceiling / 2 + rng.uniform(0, ceiling / 2))
        self.resume_at = max(self.resume_at, now + pause)
        return pause

    def wait(self, now: float) -> float:
        """Seconds until sending may resume (0 when it may now)."""
        return max(0.0, self.resume_at - now)

    def cleared(self) -> None:
        """A message went through: the next throttling starts from the base pause again."""
        self.strikes = 0
