"""How long a worker's claim on a message lasts, when it renews it, and when it must stop using it.

Flask-free: times are passed in. A claim written (or last renewed) at ``confirmed`` holds until
``confirmed + ttl``: after that another worker may take the message over. A live worker renews its
claims every quarter of the lifetime (the heartbeat), renews before a send once half of it has
gone, and never starts a send on a claim it could not confirm for three quarters of it: a worker
cut off from the database stops sending what another worker is about to take over, so only the
messages already in flight can be delivered twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LeasePolicy:
    """The lifetime of a claim and the rules derived from it."""

    ttl: timedelta

    @classmethod
    def of_seconds(cls, seconds: float) -> LeasePolicy:
        """A policy from a lifetime in seconds."""
        return cls(timedelta(seconds=seconds))

    def until(self, confirmed: datetime) -> datetime:
        """When a claim confirmed at ``confirmed`` expires."""
        return confirmed + self.ttl

    def heartbeat_seconds(self) -> float:
        """How often a live worker renews every claim it holds."""
        return self.ttl.total_seconds() / 4

    def renew_due(self, confirmed: datetime, now: datetime) -> bool:
        """Whether to renew before using the claim (half its lifetime has gone)."""
        return now - confirmed >= self.ttl / 2

    def may_start(self, confirmed: datetime, now: datetime) -> bool:
        """Whether a send may still start on the claim (a quarter of its lifetime is left)."""
        return now - confirmed < self.ttl * 3 / 4
