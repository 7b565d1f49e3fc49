"""The delivery worker: one process, ``MAIL_CONNECTIONS`` SMTP connections, each on a thread of its own.

A ``Worker`` is the process shell. It keeps what outlives a run (its name, stop flag, counters,
circuit breaker and throttle) and, for each run, assembles the parts its connections share: the
gate (breaker, throttle, rate limit: ``gate``), the claims held and their heartbeat (``claiming``,
``leases``), the lanes of idle connections and their wake-up (``lanes``), and the two hooks every
message passes through: ``preparing`` decides whether (and in what form) a claimed row is sent,
``outcomes`` records what happened to it. Each ``Sender`` (``sender``) owns one connection and
sees those parts only through the interfaces of ``shared``; beside them ``housekeeping`` renews
the claims and publishes the worker's state, and ``wakeup`` hears new mail (account mail at once
only when it is this worker's turn: ``turns``). The first ``MAIL_RESERVED_CONNECTIONS`` connections
claim account mail only, so account mail never waits behind an announcement; the others take
account mail first, then bulk.
"""

from __future__ import annotations

import os
import random
import secrets
import socket
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Flask

from flask_mailroom.engine.claiming import ClaimDesk, claim_now
from flask_mailroom.engine.gate import ServerGate
from flask_mailroom.engine.housekeeping import Heartbeat, Housekeeping, Report
from flask_mailroom.engine.lanes import Lanes
from flask_mailroom.engine.leases import Holdings
from flask_mailroom.engine.outcomes import Recorder
from flask_mailroom.engine.pacer import pacer_for
from flask_mailroom.engine.preparing import Preparation
from flask_mailroom.engine.recorder import OutcomeWriter
from flask_mailroom.engine.runtime import Runtime, handled
from flask_mailroom.engine.sender import Sender
from flask_mailroom.engine.shared import Shared
from flask_mailroom.engine.transport import Transport, transport_for
from flask_mailroom.engine.turns import Turns
from flask_mailroom.engine.wakeup import listener_for
from flask_mailroom.models.outbox import Claimed
from flask_mailroom.rules.breaker import CircuitBreaker
from flask_mailroom.rules.pacing import Throttle
from flask_mailroom.store import db, ping_when_idle

if TYPE_CHECKING:
    from flask_mailroom.engine.metrics import Telemetry

__all__ = ["Worker", "new_worker_id"]


def new_worker_id() -> str:
    """A name unique to this worker: host, process and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class Run:
    """The parts one run assembles: what its connections share, and what is closed when it ends."""

    shared: Shared
    reserved: int
    total: int
    holdings: Holdings
    lanes: Lanes
    writer: OutcomeWriter
    preparation: Preparation

    def start(self) -> list[threading.Thread]:
        """One started thread per connection, each with its transport made here."""
        senders = [Sender(self.shared, number, number < self.reserved) for number in range(self.total)]
        threads = [threading.Thread(target=s.run, name=f"mailroom-smtp-{s.number}", daemon=True)
                   for s in senders]
        for thread in threads:
            thread.start()
        return threads

    def stop(self, threads: list[threading.Thread]) -> None:
        """Wake and wait for every connection, then wait until every outcome is written."""
        self.lanes.notify()
        for thread in threads:
            thread.join()
        self.preparation.close()
        self.writer.close()


@dataclass
class Worker:
    """One delivery worker process bound to an application.

    ``transport_factory`` makes each connection's transport (default: from configuration);
    ``sleeper`` waits between attempts (default: until ``stop``; tests move a frozen clock);
    ``inprocess`` marks the development worker inside the web process; ``holdings`` are the
    claims the current run holds (None before the first run); ``metrics_port`` serves the
    worker's metrics and health there while it runs (None: nowhere; ``flask mail worker`` passes
    ``--metrics-port`` or MAIL_METRICS_PORT, so in-process and one-off workers never bind it).
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
    inprocess: bool = False
    holdings: Holdings | None = None
    metrics_port: int | None = None
    runtime: Runtime = field(init=False, repr=False)
    telemetry: Telemetry | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        """Share the name, stop flag, counters and clock with every part of every run."""
        self.runtime = Runtime(self.app, self.worker_id, self.rng, self.stop, self.stats, self.sleeper)

    def new_transport(self) -> Transport:
        """A transport for one connection."""
        factory = self.transport_factory
        made = factory() if factory is not None else transport_for(self.app.config)
        return made if self.telemetry is None else self.telemetry.transport(made)

    def claim(self, limit: int) -> list[Claimed]:
        """Claim up to ``limit`` due rows now, on a connection of its own, outside any run."""
        return claim_now(self.runtime, limit)

    def connections(self) -> tuple[int, int]:
        """How many connections, and how many of them are reserved for account mail. The in-process
        worker on SQLite (the embedded default) keeps one: its database writes are then made one at
        a time, beside the web requests that share SQLite's single writer."""
        if self.inprocess and db.engine.dialect.name == "sqlite":
            return 1, 0
        settings = self.runtime.settings()
        return settings.connections, settings.reserved

    def drain(self) -> int:
        """Deliver everything due now over the connections, then return how many messages were handled."""
        before = Counter(self.stats)
        self._run(once=True, poll_seconds=0.0, report=None)
        return handled(self.stats - before)

    def run_forever(self, poll_seconds: float = 1.0, report: Report | None = None) -> None:
        """Deliver until ``stop`` is set, finishing the messages in hand; idle connections close."""
        self._run(once=False, poll_seconds=poll_seconds, report=report)

    def _run(self, once: bool, poll_seconds: float, report: Report | None) -> None:
        """Start the writer and the connections, keep the claims alive, and stop cleanly."""
        with self.app.app_context():
            ping_when_idle(db.engine)
            telemetry = self._serve_metrics()
            try:
                self._deliver(once, poll_seconds, report)
            finally:
                if telemetry is not None:
                    telemetry.close()

    def _deliver(self, once: bool, poll_seconds: float, report: Report | None) -> None:
        """Assemble a run, start its connections and keep them alive until they are done."""
        run = self._assemble(once, poll_seconds)
        turns = Turns(self.worker_id)
        heartbeat = Heartbeat(self.runtime, self.snapshot, turns.saw)
        housekeeping = Housekeeping(self.runtime, run.holdings, heartbeat, once, report)
        threads = run.start()
        if self.telemetry is not None:
            self.telemetry.vitals.started(threads, beats=not once)
        if not once:
            listener_for(db.engine.url, run.lanes.new_mail, self.stop, run.lanes.heard, turns)
        try:
            housekeeping.keep_alive(threads)
        except BaseException:
            self.stop.set()
            raise
        finally:
            run.stop(threads)
            housekeeping.withdraw()

    def _serve_metrics(self) -> Telemetry | None:
        """Serve metrics and health on the worker's port, if it has one; the worker's ``Telemetry``
        (made once: its counters and histograms outlive a run)."""
        if self.metrics_port is None:
            return None
        if self.telemetry is None:
            try:
                from flask_mailroom.engine.metrics import Telemetry
            except ImportError:
                raise RuntimeError("metrics need the prometheus_client package: "
                                   "pip install 'Flask-Mailroom[metrics]'") from None
            self.telemetry = Telemetry(self)
        self.telemetry.serve(str(self.app.config.get("MAIL_METRICS_HOST") or "127.0.0.1"), self.metrics_port)
        return self.telemetry

    def _assemble(self, once: bool, poll_seconds: float) -> Run:
        """The parts of a new run, wired together; its writer (and pool) already started."""
        runtime = self.runtime
        settings = runtime.settings()
        pacer = pacer_for(self.app, settings.rate)
        total, reserved = self.connections()
        holdings = self.holdings = Holdings(db.engine, self.worker_id, runtime.lease_policy(), runtime.now)
        writer = OutcomeWriter(db.engine, self.worker_id, runtime.now, on_written=holdings.forget)
        desk = ClaimDesk(runtime, holdings)
        claims = desk if self.telemetry is None else self.telemetry.claims(desk)
        recorder = Recorder(runtime, writer)
        preparation = Preparation(runtime, desk, recorder, settings.preparers if total > 1 else 0)
        lanes = Lanes(self.stop, total, reserved)
        gate = ServerGate(runtime, self.breaker, self.throttle, pacer)
        shared = Shared(self.app, once, poll_seconds, control=runtime, gate=gate, claims=claims,
                        roster=lanes, outcomes=recorder, preparer=preparation,
                        new_transport=self.new_transport)
        return Run(shared, reserved, total, holdings, lanes, writer, preparation)

    def snapshot(self) -> dict[str, Any]:
        """What this worker reports at a heartbeat (without its rate)."""
        total, reserved = self.connections()
        counts = self.runtime.counts()
        if self.telemetry is not None:
            self.telemetry.vitals.beat()
        return {"seen_at": self.runtime.now(), "connections": total, "reserved": reserved,
                "in_flight": len(self.holdings) if self.holdings is not None else 0,
                "sent": counts["sent"], "failed": counts["failed"], "throttled": counts["throttled"],
                "unreachable": counts["unreachable"], "breaker": self.breaker.state.value}
