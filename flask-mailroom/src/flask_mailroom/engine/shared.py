"""What one SMTP connection sees of its worker: narrow interfaces to the parts its connections share.

A connection (``sender``) depends on these interfaces only, never on the worker that implements
them: ``Control`` (the stop flag, pauses, the batch limit), ``Gate`` (circuit breaker, throttle,
rate limit), ``Claims`` (taking rows and holding them), ``Roster`` (which connections are idle,
and waking them), ``Outcomes`` (writing what happened) and ``Preparer`` (readying the next
message ahead). A worker bundles its parts as ``Shared`` for each run, with the run's constants.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from flask import Flask

from flask_mailroom.deliverability.suppression import BatchScreen
from flask_mailroom.engine.transport import DeliveryError, Refused, Transport
from flask_mailroom.models.outbox import Claimed
from flask_mailroom.rules.suppression import Screening

__all__ = ["Claims", "Control", "Gate", "Outcomes", "Pending", "Preparer", "Ready", "Roster", "Shared",
           "Taken"]


class Taken(NamedTuple):
    """What one claim took: the rows (screened as taken), their screening, and whether due rows
    were left behind (unknown on SQLite: then whenever the claim was full)."""

    rows: list[Claimed]
    screen: BatchScreen
    more: bool


@dataclass(frozen=True)
class Ready:
    """A claimed row after preparation: what to send (None: nothing), and whether the row is
    settled (its outcome recorded here, or the claim no longer ours), so not to be given back."""

    row: Claimed | None
    settled: bool


class Control(Protocol):
    """The worker's stop flag, its way of pausing, and the most rows one claim may take."""

    def stopping(self) -> bool:
        """Whether the worker was asked to stop."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (returning early on stop)."""
        ...

    def batch_size(self) -> int:
        """The most rows one connection claims at a time."""
        ...


class Gate(Protocol):
    """What every connection passes before it talks to the server: breaker, throttle, rate limit."""

    def admit(self) -> tuple[bool, bool]:
        """Whether a connection may try the server now, and whether it is the breaker's probe."""
        ...

    def breaker_wait(self) -> float:
        """Seconds a connection refused by the breaker waits before asking again."""
        ...

    def unreachable(self, error: DeliveryError) -> None:
        """A connection could not be opened: count it and open the breaker."""
        ...

    def reachable(self) -> None:
        """A connection worked: close the breaker."""
        ...

    def delivered(self) -> None:
        """A message went through: the throttle starts again from its base pause."""
        ...

    def wait_throttle(self) -> None:
        """Hold a connection while the server's "slow down" pause lasts."""
        ...

    def slow_down(self, error: DeliveryError) -> float:
        """The server said "slow down": pause every connection; the pause in seconds."""
        ...

    def pace(self, row: Claimed) -> bool:
        """Wait for a slot of the rate limit; False when stopping meanwhile."""
        ...


class Claims(Protocol):
    """Taking due rows for a connection and holding them until their outcomes are written."""

    def claim(self, account_only: bool, limit: int) -> Taken:
        """Claim and hold up to ``limit`` rows (account mail only, or first), screened as taken."""
        ...

    def usable(self, row: Claimed) -> bool:
        """Whether a send of ``row`` may start: the claim is still ours and fresh enough."""
        ...

    def forget(self, rows: Sequence[Claimed]) -> None:
        """Stop holding ``rows``: their claims run out and another connection takes them over."""
        ...


class Roster(Protocol):
    """Which connections have work or wait idle, and the wake-up of idle ones."""

    @property
    def generation(self) -> int:
        """A number that changes whenever new mail is announced (read before a claim)."""
        ...

    def served(self, number: int) -> None:
        """Connection ``number`` got rows, or stopped: it counts as spare only while idle."""
        ...

    def spare(self, number: int, account_only: bool) -> bool:
        """Whether another connection that could take the same work is idle or has had none yet."""
        ...

    def call_next(self) -> None:
        """A connection found work: wake one more idle connection that may carry bulk."""
        ...

    def idle(self, number: int, account_only: bool, since: int, seconds: float) -> None:
        """Wait idle until woken (new mail after generation ``since``), ``seconds``, or stop."""
        ...

    def hears_new_mail(self) -> bool:
        """Whether new mail is announced as it is committed (notifications are being heard)."""
        ...


class Outcomes(Protocol):
    """Writing what happened to a claimed row."""

    def sent(self, row: Claimed, refused: Refused, reply: str = "") -> None:
        """The server accepted the message (``refused``: the recipients it did not)."""
        ...

    def failed(self, row: Claimed, error: DeliveryError) -> None:
        """The send failed: retry later with backoff, or give up."""
        ...

    def throttled(self, row: Claimed, error: DeliveryError, pause: float) -> None:
        """The server said "slow down": give the row back, due when the pause ends."""
        ...

    def release(self, rows: Sequence[Claimed], error: DeliveryError | None = None,
                due: datetime | None = None) -> None:
        """Give back rows without counting an attempt, due at once or at ``due``."""
        ...


class Pending(Protocol):
    """A preparation under way or done: a ``concurrent.futures.Future`` or anything as good."""

    def result(self) -> Ready:
        """The row as prepared (waiting until it is); raises what the preparation raised."""
        ...

    def cancel(self) -> bool:
        """Stop a preparation that has not started; whether it was stopped."""
        ...


class Preparer(Protocol):
    """Readying a claimed row for sending, ahead of the connection that sends it."""

    def prepare_ahead(self, row: Claimed, found: Screening | None, now: bool = False) -> Pending:
        """Start preparing ``row`` (screened as ``found``; ``now``: on this thread, nothing being
        sent meanwhile); its ``Ready`` when done."""
        ...


@dataclass(frozen=True)
class Shared:
    """Everything one connection works with during a run of its worker.

    ``once`` marks a drain (stop when nothing is due); ``poll_seconds`` is the longest idle wait;
    ``new_transport`` makes the connection's transport.
    """

    app: Flask
    once: bool
    poll_seconds: float
    control: Control
    gate: Gate
    claims: Claims
    roster: Roster
    outcomes: Outcomes
    preparer: Preparer
    new_transport: Callable[[], Transport]
