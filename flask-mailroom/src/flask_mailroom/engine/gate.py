"""The gate a worker's connections pass before they talk to the server.

Three things hold every connection of a worker back together: the circuit breaker (the server
cannot be reached: one probe at a time until it can), the throttle (the server said "slow down":
everyone pauses, longer each time) and the rate limit (``pacer``: a slot per message, account mail
first). Their state outlives a run: the breaker and the throttle belong to the worker.
"""

from __future__ import annotations

import logging
import threading

from flask_mailroom.engine.pacer import Pacer
from flask_mailroom.engine.runtime import Runtime
from flask_mailroom.engine.transport import DeliveryError
from flask_mailroom.models.outbox import BULK, PRIORITY, Claimed
from flask_mailroom.rules.breaker import BreakerState, CircuitBreaker
from flask_mailroom.rules.pacing import Throttle

log = logging.getLogger(__name__)


class ServerGate:
    """The breaker, the throttle and the rate limit, shared by the connections of one worker."""

    def __init__(self, runtime: Runtime, breaker: CircuitBreaker, throttle: Throttle, pacer: Pacer) -> None:
        """Guard the worker's breaker and throttle with a lock of their own."""
        self.runtime = runtime
        self.breaker = breaker
        self.throttle = throttle
        self.pacer = pacer
        self.lock = threading.Lock()

    def admit(self) -> tuple[bool, bool]:
        """Whether a connection may try the server now, and whether it is the breaker's probe."""
        with self.lock:
            allowed = self.breaker.allow(self.runtime.seconds())
            return allowed, self.breaker.state is BreakerState.HALF_OPEN

    def breaker_wait(self) -> float:
        """Seconds a connection refused by the breaker waits before asking again."""
        with self.lock:
            return self.breaker.wait(self.runtime.seconds())

    def unreachable(self, error: DeliveryError) -> None:
        """A connection could not be opened: count it and open the breaker."""
        self.runtime.count("unreachable")
        with self.lock:
            self.breaker.failed(self.runtime.seconds(), self.runtime.rng)
            retry_in = self.breaker.wait(self.runtime.seconds())
        log.warning("cannot reach the mail server: %s (next try in %.1f s)", error, retry_in)

    def reachable(self) -> None:
        """A connection worked: close the breaker."""
        with self.lock:
            self.breaker.succeeded()

    def delivered(self) -> None:
        """A message went through: the throttle starts again from its base pause."""
        with self.lock:
            self.throttle.cleared()

    def wait_throttle(self) -> None:
        """Hold a connection while the server's "slow down" pause lasts."""
        with self.lock:
            pause = self.throttle.wait(self.runtime.seconds())
        self.runtime.sleep(pause)

    def slow_down(self, error: DeliveryError) -> float:
        """The server said "slow down": count it and pause every connection; the pause in seconds."""
        with self.lock:
            pause = self.throttle.hit(self.runtime.seconds(), self.runtime.rng)
        self.runtime.count("throttled")
        log.warning("the mail server asks us to slow down (%s): pausing %.1f s", error, pause)
        return pause

    def pace(self, row: Claimed) -> bool:
        """Wait for a slot of the rate limit (account mail first); False when stopping meanwhile."""
        account = row.priority < PRIORITY[BULK]
        runtime = self.runtime
        while not runtime.stopping():
            slot = self.pacer.take(account, runtime.seconds())
            if slot.granted:
                runtime.sleep(slot.wait)
                return not runtime.stopping()
            runtime.sleep(slot.wait + runtime.rng.uniform(0, 0.005))
        return False
