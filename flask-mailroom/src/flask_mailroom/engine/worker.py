"""The delivery worker: one process, ``MAIL_CONNECTIONS`` SMTP connections, each on a thread of its own.

A ``Worker`` holds what its connections share: the outcome writer (``recorder``), the claims held
and their heartbeat (``leases``), the circuit breaker, the throttle, the rate limit (``pacer``)
and the wake-up of idle connections. Each ``Sender`` (``sender``) owns one connection: it claims a
few rows at a time and hands each to the two hooks every message passes through here:
``prepare`` decides whether (and in what form) a claimed row is sent, and ``record`` writes what
happened to it. The first ``MAIL_RESERVED_CONNECTIONS`` connections claim account mail only, so
account mail never waits behind an announcement; the others take account mail first, then bulk.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from flask_mailroom.compose import deferred
from flask_mailroom.deliverability import inbound
from flask_mailroom.deliverability import suppression as deliverability
from flask_mailroom.engine import claims, heartbeats, retention
from flask_mailroom.engine.claims import due_condition
from flask_mailroom.engine.leases import Holdings
from flask_mailroom.engine.pacer import Pacer, pacer_for
from flask_mailroom.engine.recorder import Outcome, OutcomeWriter
from flask_mailroom.engine.transport import (
    DeliveryError,
    PermanentFailure,
    Refused,
    TemporaryFailure,
    Transport,
    transport_for,
)
from flask_mailroom.engine.wakeup import listener_for
from flask_mailroom.models.outbox import BULK, PRIORITY, Claimed, OutboxStatus
from flask_mailroom.rules.backoff import RetryPolicy
from flask_mailroom.rules.breaker import BreakerState, CircuitBreaker
from flask_mailroom.rules.leases import LeasePolicy
from flask_mailroom.rules.pacing import Throttle
from flask_mailroom.rules.suppression import Screening, Verdict
from flask_mailroom.settings import DeliverySettings
from flask_mailroom.signals import email_delivered
from flask_mailroom.store import db, state

__all__ = ["Claimed", "Ready", "Worker", "due_condition", "new_worker_id", "policy_for"]

log = logging.getLogger(__name__)

QUEUED = OutboxStatus.QUEUED.value
SENT = OutboxStatus.SENT.value
FAILED = OutboxStatus.FAILED.value
MAX_ERROR = 2000
SENT_VALUES = {"status": SENT, "last_error": None}
# How often expired claims are looked for while claiming (and at the first claim of every run).
RECOVER_SECONDS = 1.0
# What counts as a message handled (its outcome recorded), for reports and ``drain``'s result.
HANDLED = ("sent", "failed", "retried", "skipped", "expired", "suppressed")
# The longest pause between heartbeats (claims renewed, state published), whatever the TTL.
HEARTBEAT_SECONDS = 5.0


def new_worker_id() -> str:
    """A name unique to this worker: host, process and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def policy_for(app: Flask) -> RetryPolicy:
    """The retry policy from configuration."""
    config = app.config
    return RetryPolicy(base_seconds=config["OUTBOX_BACKOFF_BASE"],
                       max_seconds=config["OUTBOX_BACKOFF_MAX"],
                       max_attempts=config["OUTBOX_MAX_ATTEMPTS"])


def handled(counts: Counter[str]) -> int:
    """How many messages in ``counts`` had their outcome recorded."""
    return sum(counts[key] for key in HANDLED)


@dataclass(frozen=True)
class Ready:
    """A claimed row after preparation: what to send (None: nothing), and whether the row is
    settled (its outcome recorded here, or the claim no longer ours), so not to be given back."""

    row: Claimed | None
    settled: bool


@dataclass
class Worker:
    """One delivery worker process bound to an application.

    ``transport_factory`` makes each connection's transport (default: from configuration);
    ``sleeper`` waits between attempts (default: until ``stop``; tests move a frozen clock);
    ``inprocess`` marks the development worker inside the web process.
    """

    app: Flask
    worker_id: str = field(default_factory=new_worker_id)
    rng: random.Random = field(default_factory=random.SystemRandom)
    transport_factory: Callable[[], Transport] | None = None
    sleeper: Callable[[float], Any] | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    stats: Counter[str] = field(default_factory=Counter)
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    throttle: Throttle = field(default_factory=Throttle)
    once: bool = False
    inprocess: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    wake: threading.Condition = field(default_factory=threading.Condition)
    generation: int = 0
    # Idle connections waiting for work, per lane (True: the reserved lane), longest waiting first.
    idle_senders: dict[bool, deque[threading.Event]] = field(
        default_factory=lambda: {True: deque(), False: deque()})
    writer: OutcomeWriter | None = None
    holdings: Holdings | None = None
    pacer: Pacer | None = None
    # Prepares (renders) each connection's next message while it sends the current one.
    preparers: ThreadPoolExecutor | None = None
    last_recovery: float = float("-inf")
    # Connections (by number) that have had work, and those idle now; (connections, reserved).
    claiming: set[int] = field(default_factory=set)
    idle_numbers: set[int] = field(default_factory=set)
    shape: tuple[int, int] = (0, 0)

    # --- time, settings, counters ------------------------------------------------------------

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

    def settings(self) -> DeliverySettings:
        """The engine's settings, as the application has them now."""
        return state(self.app).delivery

    def claim_ttl(self) -> timedelta:
        """How long a claim lasts before another worker may take the row over."""
        return timedelta(seconds=self.settings().claim_ttl)

    def leases(self) -> LeasePolicy:
        """The lease rules from OUTBOX_CLAIM_TTL."""
        return LeasePolicy(self.claim_ttl())

    def count(self, key: str, amount: int = 1) -> None:
        """Add to a statistic (connections update them concurrently)."""
        with self.lock:
            self.stats[key] += amount

    def stopping(self) -> bool:
        """Whether the worker was asked to stop."""
        return self.stop.is_set()

    def new_transport(self) -> Transport:
        """A transport for one connection."""
        if self.transport_factory is not None:
            return self.transport_factory()
        return transport_for(self.app.config)

    # --- claiming ------------------------------------------------------------------------------

    def claim(self, limit: int) -> list[Claimed]:
        """Claim up to ``limit`` due rows now, on a connection of its own, outside any run."""
        moment = self.now()
        with db.engine.connect() as connection:
            return claims.claim(connection, self.worker_id, moment, moment + self.claim_ttl(), limit)

    def claim_for(self, account_only: bool, limit: int) -> tuple[list[Claimed], deliverability.BatchScreen]:
        """Claim a few rows for one connection and hold them (recovering expired claims now and
        then), screened in the same transaction (expired links, suppressed addresses)."""
        assert self.holdings is not None
        moment = self.now()
        recovering = self.seconds() - self.last_recovery >= RECOVER_SECONDS
        if recovering:
            self.last_recovery = self.seconds()
        with db.engine.connect() as connection, connection.begin():
            rows = claims.claim_in(connection, self.worker_id, moment, moment + self.claim_ttl(),
                                   limit, account_only=account_only, recovering=recovering)
            screen = deliverability.screen_batch(connection, rows, moment)
        self.holdings.add(rows, moment)
        return rows, screen

    def forget(self, rows: Sequence[Claimed]) -> None:
        """Stop renewing the claims on ``rows``: they expire and another connection takes them over."""
        assert self.holdings is not None
        self.holdings.forget(row.id for row in rows)

    def usable(self, row: Claimed) -> bool:
        """Whether a send of ``row`` may start: the claim is still ours and fresh enough."""
        assert self.holdings is not None
        return self.holdings.usable(row.id)

    # --- the two hooks: what is sent, what is recorded -------------------------------------------

    def prepare(self, row: Claimed, found: Screening | None = None) -> Claimed | None:
        """Decide whether a claimed row is sent and in what form; None when its outcome is recorded here.

        The place for pre-send checks: a screened-out row is withheld (expired, suppressed), a row
        past its attempts fails, a deferred row is built.
        """
        if found is not None and found.verdict is not Verdict.SEND:
            self.withhold(row, found)
            return None
        if found is not None:
            row = replace(row, recipients=list(found.recipients))
        if row.attempts > row.max_attempts:
            self.failed(row, PermanentFailure(
                f"gave up after {row.attempts - 1} attempts (workers stopped mid-delivery)"))
            return None
        if not row.raw:
            return self._materialize(row)
        return row

    def prepare_ahead(self, row: Claimed, found: Screening | None) -> Future[Ready]:
        """Prepare ``row`` on the pool when it has to be rendered; at once, on this thread, when its
        bytes are stored (the checks are cheaper than handing it over) or the worker has no pool."""
        if self.preparers is not None and not row.raw:
            return self.preparers.submit(self._prepared_apart, row, found)
        future: Future[Ready] = Future()
        try:
            future.set_result(self._prepared(row, found))
        except Exception as error:
            future.set_exception(error)
        return future

    def _prepared_apart(self, row: Claimed, found: Screening | None) -> Ready:
        """``_prepared`` on a pool thread, in an application context (and database session) of its own."""
        with self.app.app_context():
            return self._prepared(row, found)

    def _prepared(self, row: Claimed, found: Screening | None) -> Ready:
        """``prepare``, once the claim is known to be usable."""
        if not self.usable(row):
            return Ready(None, True)
        prepared = self.prepare(row, found)
        return Ready(prepared, prepared is None)

    def record(self, row: Claimed, outcome: Outcome, refused: Refused | None = None) -> None:
        """Write what happened to a claimed row (on the writer's thread, in groups), with its effects:
        a final outcome drops an account body, recipients refused with 5xx are recorded as bounces."""
        assert self.writer is not None
        if deliverability.is_final(outcome.values):
            outcome = replace(outcome, expressions={**outcome.expressions,
                                                    **deliverability.drop_account_body()})
        self.writer.put(outcome)
        if refused:
            deliverability.record_refusals(row.id, refused, "smtp")

    # --- outcomes ------------------------------------------------------------------------------

    def sent(self, row: Claimed, refused: Refused, reply: str = "") -> None:
        """Record a delivery (with the server's reply) and signal it; recipients refused with 4xx keep
        the row queued for them."""
        self.count("sent")
        if refused:
            self.record(row, self._partly_sent(row, refused), refused)
        else:
            self.record(row, Outcome(row.id, {**SENT_VALUES, "server_reply": reply[:MAX_ERROR] or None},
                                     stamp="sent_at"))
        self._signal(row)

    def withhold(self, row: Claimed, found: Screening) -> None:
        """Close a row that must not go out (its link expired, or everyone is suppressed)."""
        self.count(found.verdict.value)
        self.record(row, Outcome(row.id, deliverability.withheld_values(found), stamp="closed_at"))

    def _partly_sent(self, row: Claimed, refused: Refused) -> Outcome:
        """Sent, noting who refused; queued again for those refused with 4xx while attempts last."""
        note = "; ".join(f"{a}: {c} {t}" for a, (c, t) in sorted(refused.items()))[:MAX_ERROR]
        later = [a for a in row.recipients if a in refused and not 500 <= refused[a][0] < 600]
        retry_at = policy_for(self.app).next_attempt(row.attempts, self.now(), self.rng) if later else None
        if retry_at is None:
            return Outcome(row.id, {"status": SENT, "last_error": note}, stamp="sent_at")
        return Outcome(row.id, {"status": QUEUED, "recipients": later, "next_attempt_at": retry_at,
                                "last_error": note})

    def failed(self, row: Claimed, error: DeliveryError) -> None:
        """Retry later with backoff and jitter, or give up: permanent errors and exhausted attempts fail."""
        text = str(error)[:MAX_ERROR]
        retry_at = None if error.permanent else policy_for(self.app).next_attempt(
            row.attempts, self.now(), self.rng)
        if retry_at is None or row.attempts >= row.max_attempts:
            log.warning("message %s failed: %s", row.message_id, text)
            self.count("failed")
            self.record(row, Outcome(row.id, {"status": FAILED, "last_error": text}, stamp="failed_at"),
                        error.refused)
        else:
            self.count("retried")
            self.record(row, Outcome(row.id, {"status": QUEUED, "next_attempt_at": retry_at,
                                              "last_error": text}))

    def release(self, rows: Sequence[Claimed], error: DeliveryError | None = None,
                due: datetime | None = None) -> None:
        """Give back rows without counting an attempt (not their fault), due at once or at ``due``."""
        values: dict[str, Any] = {"status": QUEUED}
        if error is not None:
            values["last_error"] = str(error)[:MAX_ERROR]
        if due is not None:
            values["next_attempt_at"] = due
        for row in rows:
            self.record(row, Outcome(row.id, values, {"attempts": claims.TABLE.c.attempts - 1}))

    def throttled(self, row: Claimed, error: DeliveryError) -> None:
        """The server said "slow down": pause the whole worker and give the row back without using
        an attempt; a row throttled OUTBOX_MAX_THROTTLES times fails, saying so."""
        with self.lock:
            pause = self.throttle.hit(self.seconds(), self.rng)
            self.stats["throttled"] += 1
        log.warning("the mail server asks us to slow down (%s): pausing %.1f s", error, pause)
        # Due no later than the pause ends (whole milliseconds: never a microsecond after it).
        resume = timedelta(milliseconds=int(pause * 1000))
        throttles = row.throttles + 1
        if throttles >= self.settings().max_throttles:
            self.count("failed")
            reason = (f"gave up after {throttles} throttling replies "
                      f"(the server kept asking to slow down): {error}")
            self.record(row, Outcome(row.id, {"status": FAILED, "last_error": reason[:MAX_ERROR],
                                              "throttles": throttles},
                                     {"attempts": claims.TABLE.c.attempts - 1}, stamp="failed_at"))
            return
        self.record(row, Outcome(row.id, {"status": QUEUED, "last_error": str(error)[:MAX_ERROR],
                                          "throttles": throttles,
                                          "next_attempt_at": self.now() + resume},
                                 {"attempts": claims.TABLE.c.attempts - 1}))

    def _signal(self, row: Claimed) -> None:
        """Fire ``email_delivered`` with the message as delivered (rebuilt only when someone listens)."""
        if not email_delivered.receivers:
            return
        from flask_mailroom.devmail.parse import message_from_raw

        email_delivered.send(self.app, message=message_from_raw(row.raw, row.recipients))

    def _materialize(self, row: Claimed) -> Claimed | None:
        """Build a deferred row's message; None when there is nothing to send (or it failed)."""
        try:
            built = deferred.materialize(row, self.worker_id)
        except Exception as error:  # a builder's bug or a database hiccup: retry like a 4xx
            log.warning("building deferred message %s failed: %s", row.message_id, type(error).__name__)
            self.failed(row, TemporaryFailure(f"building the message failed: {error!r}"[:200]))
            return None
        if built is None:
            self.count("skipped")
        return built

    # --- shared gates: breaker, throttle, rate limit -------------------------------------------

    def admit(self) -> tuple[bool, bool]:
        """Whether a connection may try the server now, and whether it is the breaker's probe."""
        with self.lock:
            allowed = self.breaker.allow(self.seconds())
            return allowed, self.breaker.state is BreakerState.HALF_OPEN

    def breaker_wait(self) -> float:
        """Seconds a connection refused by the breaker waits before asking again."""
        with self.lock:
            return self.breaker.wait(self.seconds())

    def unreachable(self, error: DeliveryError) -> None:
        """A connection could not be opened: count it and open the breaker."""
        with self.lock:
            self.stats["unreachable"] += 1
            self.breaker.failed(self.seconds(), self.rng)
            retry_in = self.breaker.wait(self.seconds())
        log.warning("cannot reach the mail server: %s (next try in %.1f s)", error, retry_in)

    def reachable(self) -> None:
        """A connection worked: close the breaker."""
        with self.lock:
            self.breaker.succeeded()

    def abandon_probe(self) -> None:
        """The probe had nothing to do: another connection probes next time."""
        with self.lock:
            self.breaker.abandoned()

    def delivered(self) -> None:
        """A message went through: the throttle starts again from its base pause."""
        with self.lock:
            self.throttle.cleared()

    def wait_throttle(self) -> None:
        """Hold a connection while the server's "slow down" pause lasts."""
        with self.lock:
            pause = self.throttle.wait(self.seconds())
        self.sleep(pause)

    def pace(self, row: Claimed) -> bool:
        """Wait for a slot of the rate limit (account mail first); False when stopping meanwhile."""
        assert self.pacer is not None
        account = row.priority < PRIORITY[BULK]
        while not self.stopping():
            slot = self.pacer.take(account, self.seconds())
            if slot.granted:
                self.sleep(slot.wait)
                return not self.stopping()
            self.sleep(slot.wait + self.rng.uniform(0, 0.005))
        return False

    def served(self, number: int) -> None:
        """Connection ``number`` got rows from a claim, or stopped: from now on it is counted as
        spare only while it waits idle."""
        with self.lock:
            self.claiming.add(number)

    @contextmanager
    def waiting(self, number: int) -> Iterator[None]:
        """Mark connection ``number`` as idle, waiting for work, while the block runs."""
        with self.lock:
            self.idle_numbers.add(number)
        try:
            yield
        finally:
            with self.lock:
                self.idle_numbers.discard(number)

    def spare_connections(self, number: int, account_only: bool) -> bool:
        """Whether a connection other than ``number`` that could take the same work is idle or has
        not had any yet (one busy between two claims, or still waiting for its first, is not
        counted against it: starting connections get their share)."""
        total, reserved = self.shape
        lane = range(total) if account_only else range(reserved, total)
        with self.lock:
            return any(other != number and (other in self.idle_numbers or other not in self.claiming)
                       for other in lane)

    # --- wake-up -----------------------------------------------------------------------------------

    def notify(self) -> None:
        """Wake every idle connection (the worker stops)."""
        with self.wake:
            self.generation += 1
            for waiting in self.idle_senders.values():
                while waiting:
                    waiting.popleft().set()
            self.wake.notify_all()

    def new_mail(self) -> None:
        """New mail was committed: wake one idle connection of each lane, not all of them (they
        would race for the same row); one that finds work calls the next in (``call_next``)."""
        with self.wake:
            self.generation += 1
            for waiting in self.idle_senders.values():
                if waiting:
                    waiting.popleft().set()

    def call_next(self) -> None:
        """A connection found work: wake one more idle connection that may carry bulk."""
        with self.wake:
            waiting = self.idle_senders[False]
            if waiting:
                waiting.popleft().set()

    def idle(self, account_only: bool, since: int, seconds: float) -> None:
        """Wait until woken (new mail after generation ``since``, or called in), ``seconds``, or stop."""
        woken = threading.Event()
        waiting = self.idle_senders[account_only]
        with self.wake:
            if self.generation != since or self.stopping():
                return
            waiting.append(woken)
        woken.wait(seconds)
        with self.wake:
            if woken in waiting:
                waiting.remove(woken)

    # --- running -------------------------------------------------------------------------------

    def connections(self) -> tuple[int, int]:
        """How many connections, and how many of them are reserved for account mail. The in-process
        worker on SQLite (the embedded default) keeps one: its database writes are then made one at
        a time, beside the web requests that share SQLite's single writer."""
        if self.inprocess and db.engine.dialect.name == "sqlite":
            return 1, 0
        settings = self.settings()
        return settings.connections, settings.reserved

    def drain(self) -> int:
        """Deliver everything due now over the connections, then return how many messages were handled."""
        before = Counter(self.stats)
        self._run(once=True, poll_seconds=0.0, report=None)
        return handled(self.stats - before)

    def run_forever(self, poll_seconds: float = 1.0,
                    report: Callable[[int, Counter[str]], Any] | None = None) -> None:
        """Deliver until ``stop`` is set, finishing the messages in hand; idle connections close."""
        self._run(once=False, poll_seconds=poll_seconds, report=report)

    def _run(self, once: bool, poll_seconds: float,
             report: Callable[[int, Counter[str]], Any] | None) -> None:
        """Start the writer and the connections, keep the claims alive, and stop cleanly."""
        from flask_mailroom.engine.sender import Sender

        self.once = once
        with self.app.app_context():
            self.pacer = pacer_for(self.app, self.settings().rate)
            self.holdings = Holdings(db.engine, self.worker_id, self.leases(), self.now)
            self.writer = OutcomeWriter(db.engine, self.worker_id, self.now,
                                       on_written=self.holdings.forget)
            total, reserved = self.connections()
            self.shape = (total, reserved)
            self.last_recovery = float("-inf")  # each run starts by recovering expired claims
            self.claiming.clear()
            if total > 1:
                self.preparers = ThreadPoolExecutor(self.settings().preparers,
                                                    thread_name_prefix="mailroom-prepare")
            senders = [Sender(self, number, number < reserved, poll_seconds) for number in range(total)]
            threads = [threading.Thread(target=s.run, name=f"mailroom-smtp-{s.number}", daemon=True)
                       for s in senders]
            for thread in threads:
                thread.start()
            if not once:
                listener_for(db.engine.url, self.new_mail, self.stop)
            try:
                self._keep_alive(threads, report)
            except BaseException:
                self.stop.set()
                raise
            finally:
                self.stop_connections(threads)

    def _keep_alive(self, threads: list[threading.Thread],
                    report: Callable[[int, Counter[str]], Any] | None) -> None:
        """The heartbeat: renew the claims held and report, until the connections are done (or stop)."""
        assert self.holdings is not None
        interval = min(self.leases().heartbeat_seconds(), HEARTBEAT_SECONDS)
        reported = Counter(self.stats)
        beat = Heartbeat(self, interval)
        self.housekeeping(beat)
        while any(thread.is_alive() for thread in threads):
            if self.once:
                self._join_any(threads, interval)
            elif self.stop.wait(interval):
                log.info("stopping: finishing the messages being sent; the rest of the %d claimed "
                         "go back to the queue", len(self.holdings))
                return
            self.holdings.renew()
            if not self.once:
                self.housekeeping(beat)
            if report is not None:
                reported = self._report(report, reported)

    def housekeeping(self, beat: Heartbeat) -> None:
        """What a heartbeat does besides renewing claims: publish the state (not in a drain), apply
        stored provider webhooks, purge old bodies when due."""
        if not self.once:
            beat.publish()
        try:
            inbound.process_pending()
        except SQLAlchemyError as error:
            log.warning("could not process webhook events: %s", type(error).__name__)
        if not self.once:
            retention.purge_if_due(self.app)

    @staticmethod
    def _join_any(threads: list[threading.Thread], seconds: float) -> None:
        """Wait up to ``seconds`` for the connections to finish."""
        for thread in threads:
            thread.join(seconds)
            if thread.is_alive():
                return

    def _report(self, report: Callable[[int, Counter[str]], Any], since: Counter[str]) -> Counter[str]:
        """Tell ``report`` what was handled since the last report, if anything; the new mark."""
        with self.lock:
            now = Counter(self.stats)
        new = now - since
        if handled(new):
            report(handled(new), new)
        return now

    def stop_connections(self, threads: list[threading.Thread]) -> None:
        """Wake and wait for every connection, then wait until every outcome is written."""
        self.notify()
        for thread in threads:
            thread.join()
        if self.preparers is not None:
            self.preparers.shutdown()
            self.preparers = None
        if self.writer is not None:
            self.writer.close()
        self.writer = None
        if not self.once:
            Heartbeat(self, 0).withdraw()

    def snapshot(self) -> dict[str, Any]:
        """What this worker reports at a heartbeat (without its rate)."""
        total, reserved = self.connections()
        with self.lock:
            counts = Counter(self.stats)
            breaker = self.breaker.state.value
        return {"seen_at": self.now(), "connections": total, "reserved": reserved,
                "in_flight": len(self.holdings) if self.holdings is not None else 0,
                "sent": counts["sent"], "failed": counts["failed"], "throttled": counts["throttled"],
                "unreachable": counts["unreachable"], "breaker": breaker}


@dataclass
class Heartbeat:
    """Publishes the worker's state in ``mail_workers`` (a failure is logged, never fatal)."""

    worker: Worker
    interval: float
    last_sent: int = 0
    last_at: float | None = None

    def publish(self) -> None:
        """Write the snapshot, with the sending rate since the previous heartbeat."""
        values = self.worker.snapshot()
        moment = self.worker.seconds()
        elapsed = moment - self.last_at if self.last_at is not None else 0.0
        values["rate"] = (values["sent"] - self.last_sent) / elapsed if elapsed > 0 else 0.0
        self.last_sent, self.last_at = values["sent"], moment
        try:
            with db.engine.connect() as connection:
                heartbeats.publish(connection, self.worker.worker_id, values)
        except SQLAlchemyError as error:
            log.warning("could not publish the worker's state: %s", type(error).__name__)

    def withdraw(self) -> None:
        """The worker stops: remove its row."""
        try:
            with db.engine.connect() as connection:
                heartbeats.withdraw(connection, self.worker.worker_id)
        except SQLAlchemyError as error:
            log.warning("could not remove the worker's state: %s", type(error).__name__)
