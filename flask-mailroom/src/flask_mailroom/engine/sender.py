"""One SMTP connection of a worker: claim a few rows, send them one after the other, record each outcome.

A connection claims about three seconds' worth of messages at a time (measured from its own recent
sends, rate-limit waits included, at least one, at most ``OUTBOX_BATCH_SIZE``), so its claims stay
small and a new account email starts on the next connection that comes free; while another
connection of its lane is idle it claims one, so work spreads before it batches. Each message is
prepared (rendered) on the worker's pool while the one before it is sent. Idle, it waits for a
wake-up (or the poll interval) and closes its SMTP connection after ``IDLE_CLOSE_SECONDS``.

A connection sees its worker only through the interfaces of ``shared`` (never the worker itself).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from flask_mailroom.deliverability import suppression as deliverability
from flask_mailroom.engine.shared import Pending, Shared
from flask_mailroom.engine.transport import ConnectionFailure, DeliveryError, Throttled, Transport
from flask_mailroom.models.outbox import Claimed
from flask_mailroom.store import db

log = logging.getLogger(__name__)

# How much work (in seconds of sending) one connection claims at a time: each claim costs the
# worker about a millisecond of CPU (the claim, the screens, the connection), so at 100 ms per
# message a second's worth (ten copies) spent a tenth of a millisecond per copy on claiming.
CLAIM_SECONDS = 3.0
# An idle connection is closed after this long (providers drop idle connections around 30-60 s).
IDLE_CLOSE_SECONDS = 20.0
# Weight of the newest send in the running average of send durations.
SMOOTHING = 0.2
# Pause after an unexpected error (the database is away, a bug) before the connection tries again.
ERROR_PAUSE = 1.0


class Sender:
    """One connection's loop; ``account_only`` connections are the reserved lane."""

    def __init__(self, shared: Shared, number: int, account_only: bool) -> None:
        """Not connected yet; the transport is made when first needed."""
        self.shared = shared
        self.number = number
        self.account_only = account_only
        self.transport: Transport = shared.new_transport()
        self.send_seconds: float | None = None
        self.idle_since: float | None = None

    def run(self) -> None:
        """Deliver until stopped (or, in a drain, until nothing is due), then close the connection."""
        with self.shared.app.app_context():
            try:
                while not self.shared.control.stopping() and self._step_safely():
                    pass
            finally:
                self.shared.roster.served(self.number)  # a connection that is done takes no more work
                self._close()

    def _step_safely(self) -> bool:
        """One step; an unexpected error is logged and the step retried after a pause."""
        try:
            return self.step()
        except SQLAlchemyError as error:  # the database is away: claims wait, nothing is lost
            log.warning("connection %d: database unavailable (%s); retrying", self.number,
                        type(error).__name__)
        except Exception:
            log.exception("connection %d: delivery error; retrying", self.number)
        # This thread's session may hold a failed transaction: start the next step on a fresh one.
        db.session.remove()
        if self.shared.once:
            return False
        self.shared.control.sleep(ERROR_PAUSE)
        return True

    def step(self) -> bool:
        """Claim and deliver a few rows; False when a drain has nothing more to do."""
        shared = self.shared
        if not self._admitted():
            return not shared.once
        shared.gate.wait_throttle()
        generation = shared.roster.generation
        rows, screen, more = shared.claims.claim(self.account_only, self.claim_size())
        if rows:
            shared.roster.served(self.number)
            self.idle_since = None
            if more and not self.account_only:
                shared.roster.call_next()  # due rows were left: an idle connection takes them
            self.deliver(rows, screen)
            if not more and not shared.once and shared.roster.hears_new_mail():
                # Nothing else was due: mail committed since is announced, and an announcement
                # since ``generation`` ends this wait at once (no second, empty claim).
                self._idle(generation)
            return True
        if shared.once:
            return False
        self._idle(generation)
        return True

    def _admitted(self) -> bool:
        """Whether the breaker lets this connection work; as the probe, connect first."""
        gate = self.shared.gate
        allowed, probing = gate.admit()
        if not allowed:
            if not self.shared.once:
                self.shared.control.sleep(gate.breaker_wait())
            return False
        if probing:
            try:
                self.transport.connect()
            except ConnectionFailure as error:
                gate.unreachable(error)
                return False
            gate.reachable()
        return True

    def claim_size(self) -> int:
        """About CLAIM_SECONDS of work at the recent pace, at most OUTBOX_BATCH_SIZE; one while
        another connection that could take the same work has none (work spreads before it batches:
        a server that slows down after a fast send then holds up one message, not a whole batch)."""
        most = self.shared.control.batch_size()
        if self.send_seconds is None or self.shared.roster.spare(self.number, self.account_only):
            return 1
        return max(1, min(most, int(CLAIM_SECONDS / max(self.send_seconds, 1e-4))))

    def deliver(self, rows: Sequence[Claimed], screen: deliverability.BatchScreen) -> None:
        """Send the screened rows in order, each prepared (rendered) on the worker's pool while the
        one before it is sent; give back the rest when stopping or unreachable."""
        shared = self.shared
        upcoming = self._ahead(rows, 0, screen)
        for index, row in enumerate(rows):
            current, upcoming, ready = upcoming, None, None
            if shared.control.stopping():
                shared.outcomes.release(self._unsent(rows, index, current))
                return
            try:
                ready = current.result() if current is not None else None
                upcoming = self._ahead(rows, index + 1, screen)
                if ready is not None and ready.row is not None and shared.claims.usable(row):
                    self.send(ready.row)
            except ConnectionFailure as error:
                shared.gate.unreachable(error)
                # Given back as it was tried: a copy filled for this attempt is stored with it.
                tried = ready.row if ready is not None and ready.row is not None else row
                shared.outcomes.release([tried, *self._unsent(rows, index + 1, upcoming)], error)
                return
            except Exception:
                # The rows after this one were not tried; this one's claim runs out and another
                # connection takes it over (its outcome may already be recorded).
                shared.outcomes.release(self._unsent(rows, index + 1, upcoming))
                shared.claims.forget([row])
                raise

    def _ahead(self, rows: Sequence[Claimed], index: int,
               screen: deliverability.BatchScreen) -> Pending | None:
        """Start preparing ``rows[index]`` (None past the end)."""
        if index >= len(rows):
            return None
        return self.shared.preparer.prepare_ahead(rows[index], screen.of(rows[index].id), now=index == 0)

    def _unsent(self, rows: Sequence[Claimed], start: int, pending: Pending | None) -> list[Claimed]:
        """The rows from ``start`` on that may be given back: all of them, except the first when its
        preparation already recorded an outcome (or failed: its claim then runs out)."""
        if pending is None or pending.cancel():
            return list(rows[start:])
        try:
            settled = pending.result().settled
        except Exception:
            log.exception("connection %d: preparing a message failed", self.number)
            self.shared.claims.forget([rows[start]])
            settled = True
        return list(rows[start + 1:] if settled else rows[start:])

    def send(self, prepared: Claimed) -> None:
        """Pace and send one prepared row and record what happened; ConnectionFailure goes to the caller.

        The time observed includes the wait for the rate limit, so that a rate-limited connection
        claims what it can send in a second at that rate, not at the server's speed."""
        gate, outcomes = self.shared.gate, self.shared.outcomes
        started = time.monotonic()
        gate.wait_throttle()
        if not gate.pace(prepared):
            outcomes.release([prepared])
            return
        try:
            refused = self.transport.send(prepared.sender, prepared.recipients, prepared.raw)
        except ConnectionFailure:
            raise
        except Throttled as error:
            outcomes.throttled(prepared, error, gate.slow_down(error))
            return
        except DeliveryError as error:
            outcomes.failed(prepared, error)
            return
        finally:
            self._observe(time.monotonic() - started)
        gate.delivered()
        outcomes.sent(prepared, refused, str(getattr(self.transport, "last_reply", "") or ""))

    def _observe(self, seconds: float) -> None:
        """Keep a running average of how long a send takes on this connection."""
        previous = self.send_seconds
        self.send_seconds = seconds if previous is None else previous + SMOOTHING * (seconds - previous)

    def _idle(self, generation: int) -> None:
        """Nothing to do: wait for a wake-up; close the connection once idle long enough."""
        moment = time.monotonic()
        if self.idle_since is None:
            self.idle_since = moment
        elif moment - self.idle_since >= IDLE_CLOSE_SECONDS:
            self._close()
        self.shared.roster.idle(self.number, self.account_only, generation, self.shared.poll_seconds)

    def _close(self) -> None:
        """Say QUIT (a transport made elsewhere and injected is closed by its owner as well)."""
        try:
            self.transport.close()
        except Exception:
            log.exception("connection %d: closing failed", self.number)
