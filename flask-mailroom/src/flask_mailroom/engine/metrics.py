"""A worker's metrics in Prometheus's text format, and its health, on a port of its own.

``flask mail worker --metrics-port 9464`` (or :confval:`MAIL_METRICS_PORT`) serves, on
:confval:`MAIL_METRICS_HOST`:

- ``/metrics``: the worker's counters (sent, failed, deferred, throttled...), its circuit breaker,
  the queue's depth per lane (counted at most every ``QUEUE_REFRESH_SECONDS``, only when scraped),
  and the latency of claims and of sends as histograms;
- ``/healthz/live``: 200 while the process and its connections' threads are alive;
- ``/healthz/ready``: 200 while the database answers, the breaker is not open and the heartbeat
  is fresh; 503 otherwise, with a small JSON body naming the failing check.

Every worker has a ``CollectorRegistry`` of its own (never the library's global one), so several
workers in one process (tests) each count their own. Needs ``prometheus_client``
(``pip install Flask-Mailroom[metrics]``); nothing else imports this module.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from flask import Flask
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from flask_mailroom.engine import heartbeats
from flask_mailroom.engine.housekeeping import HEARTBEAT_SECONDS
from flask_mailroom.engine.probes import Check, database_check, probe_engine, verdict
from flask_mailroom.engine.runtime import Runtime
from flask_mailroom.engine.shared import Claims, Taken
from flask_mailroom.engine.transport import Refused, Transport
from flask_mailroom.models.outbox import Claimed
from flask_mailroom.rules.breaker import BreakerState, CircuitBreaker
from flask_mailroom.store import state

log = logging.getLogger(__name__)

# The queue's depth is counted at most this often (the counts read the outbox; scrapes are cheap).
QUEUE_REFRESH_SECONDS = 5.0
# A heartbeat older than this many beats makes the worker not ready.
STALE_BEATS = 3
# The worker's counters: (key in the worker's statistics, metric name, help).
COUNTERS = (
    ("sent", "mailroom_sent", "Messages the mail server accepted."),
    ("failed", "mailroom_failed",
     "Messages given up on: refused for good (5xx), out of attempts, or throttled too often."),
    ("retried", "mailroom_deferred", "Temporary failures (4xx, timeouts): the message is retried later."),
    ("throttled", "mailroom_throttled", "Slow-down replies (421, 451, 454): every connection pauses."),
    ("unreachable", "mailroom_unreachable", "Connections to the mail server that could not be opened."),
)
# Messages closed without a send, by why (the ``reason`` label of ``mailroom_withheld_total``).
WITHHELD = ("skipped", "expired", "suppressed")
CLAIM_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SEND_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Observed(Protocol):
    """What the metrics read of a worker (``Worker`` is one)."""

    app: Flask
    runtime: Runtime
    breaker: CircuitBreaker

    def connections(self) -> tuple[int, int]:
        """How many connections, and how many are reserved for account mail."""
        ...


def server_name(app: Flask) -> str:
    """The mail server the breaker guards, as the ``server`` label shows it (never a credential)."""
    config = app.config
    if config.get("MAIL_TRANSPORT") == "devmail":
        return "devmail"
    return f"{config.get('MAIL_SERVER')}:{config.get('MAIL_PORT')}"


class QueueDepth:
    """The queue's depth per lane, counted by the database at most every QUEUE_REFRESH_SECONDS."""

    def __init__(self, worker: Observed, engine: Callable[[], Engine],
                 refresh: float = QUEUE_REFRESH_SECONDS) -> None:
        """Nothing counted yet; ``engine`` gives the connection to count on."""
        self.worker = worker
        self.engine = engine
        self.refresh = refresh
        self.lock = threading.Lock()
        self.counted_at = float("-inf")
        self.lanes: list[heartbeats.Lane] | None = None

    def current(self) -> list[heartbeats.Lane] | None:
        """The lanes as last counted (recounted when older than ``refresh``); None when the database
        cannot be read and never could."""
        with self.lock:
            if time.monotonic() - self.counted_at >= self.refresh:
                self.lanes = self._count() or self.lanes
                self.counted_at = time.monotonic()
            return self.lanes

    def _count(self) -> list[heartbeats.Lane] | None:
        """Queued, due and sending rows per lane now (None when the database fails)."""
        try:
            with self.engine().connect() as connection:
                return heartbeats.lanes(connection, self.worker.runtime.now())
        except Exception as error:  # a scrape shows the last counts rather than failing
            log.warning("metrics: could not count the queue (%s)", type(error).__name__)
            return None


class WorkerCollector(Collector):
    """Reads the worker's counters, breaker and queue at each scrape (nothing is kept twice)."""

    def __init__(self, worker: Observed, depth: QueueDepth, vitals: Vitals) -> None:
        """The worker observed, the queue counts, and the health checks."""
        self.worker = worker
        self.depth = depth
        self.vitals = vitals

    def collect(self) -> Iterator[Metric]:
        """Every metric of the worker, as it is now."""
        counts = self.worker.runtime.counts()
        for key, name, text in COUNTERS:
            yield CounterMetricFamily(name, text, value=counts[key])
        withheld = CounterMetricFamily("mailroom_withheld", "Messages closed unsent: a link expired, every "
                                       "recipient suppressed, or the builder said skip.", labels=["reason"])
        for reason in WITHHELD:
            withheld.add_metric([reason], counts[reason])
        yield withheld
        yield self._breaker()
        ready = all(check.ok for check in self.vitals.ready())
        yield GaugeMetricFamily("mailroom_ready", "1 while /healthz/ready would answer 200.", value=ready)
        yield from self._connections()
        yield from self._queue()

    def _breaker(self) -> Metric:
        """1 for the breaker's current state, 0 for the others."""
        family = GaugeMetricFamily("mailroom_breaker_state", "The circuit breaker towards the mail "
                                   "server: 1 for its current state.", labels=["server", "state"])
        current = self.worker.breaker.state
        server = server_name(self.worker.app)
        for option in BreakerState:
            family.add_metric([server, option.value], 1.0 if option is current else 0.0)
        return family

    def _connections(self) -> Iterator[Metric]:
        """The worker's SMTP connections, and how many are reserved for account mail."""
        with self.worker.app.app_context():
            total, reserved = self.worker.connections()
        yield GaugeMetricFamily("mailroom_connections", "SMTP connections of this worker.", value=total)
        yield GaugeMetricFamily("mailroom_reserved_connections",
                                "Of those, connections that carry account mail only.", value=reserved)

    def _queue(self) -> Iterator[Metric]:
        """Queued, due and in-flight messages per lane (the whole queue's, the same from every worker)."""
        lanes = self.depth.current()
        if lanes is None:
            return
        shapes = (("mailroom_queue_depth", "Messages waiting in the outbox (due now or later).", "queued"),
                  ("mailroom_queue_due", "Messages waiting that are due now.", "due"),
                  ("mailroom_queue_in_flight", "Messages claimed by a worker and being sent.", "in_flight"))
        for name, text, attribute in shapes:
            family = GaugeMetricFamily(name, text, labels=["lane"])
            for lane in lanes:
                family.add_metric([lane.name], getattr(lane, attribute))
            yield family


class TimedClaims:
    """A connection's claims, each timed into ``mailroom_claim_seconds``."""

    def __init__(self, claims: Claims, histogram: Histogram) -> None:
        """Wrap ``claims``."""
        self.claims = claims
        self.histogram = histogram

    def claim(self, account_only: bool, limit: int) -> Taken:
        """Claim as the wrapped desk does, timing the round trip."""
        with self.histogram.time():
            return self.claims.claim(account_only, limit)

    def usable(self, row: Claimed) -> bool:
        """As the wrapped desk says."""
        return self.claims.usable(row)

    def forget(self, rows: Sequence[Claimed]) -> None:
        """As the wrapped desk does."""
        self.claims.forget(rows)

    def __getattr__(self, name: str) -> Any:
        """Anything else the desk offers, untimed."""
        return getattr(self.claims, name)


class TimedTransport:
    """A connection's transport, each send timed into ``mailroom_send_seconds``."""

    def __init__(self, transport: Transport, histogram: Histogram) -> None:
        """Wrap ``transport``."""
        self.transport = transport
        self.histogram = histogram

    def send(self, mail_from: str, rcpt_to: Sequence[str], raw: bytes) -> Refused:
        """Send as the wrapped transport does, timing the SMTP exchange (failures included)."""
        with self.histogram.time():
            return self.transport.send(mail_from, rcpt_to, raw)

    def close(self) -> None:
        """Close the wrapped transport."""
        self.transport.close()

    def connect(self) -> None:
        """Connect the wrapped transport."""
        self.transport.connect()

    def __getattr__(self, name: str) -> Any:
        """Anything else the transport offers (its last reply), untimed."""
        return getattr(self.transport, name)


class Vitals:
    """What the health endpoints judge: the connections' threads, the heartbeat, the database, the breaker."""

    def __init__(self, worker: Observed) -> None:
        """No run yet: live (starting), not ready until its first heartbeat."""
        self.worker = worker
        self.threads: list[threading.Thread] = []
        self.beat_at: float | None = None
        self.beats = True
        self.engine: Engine | None = None
        self.lock = threading.Lock()

    def started(self, threads: list[threading.Thread], beats: bool) -> None:
        """A run started these connection threads (``beats``: it publishes heartbeats; a drain does not)."""
        self.threads, self.beats, self.beat_at = threads, beats, None

    def beat(self) -> None:
        """The worker published its state just now."""
        self.beat_at = time.monotonic()

    def live(self) -> list[Check]:
        """The process answers, and every connection's thread is alive (or the worker is stopping;
        before its run starts there are none yet)."""
        alive = self.worker.runtime.stopping() or all(t.is_alive() for t in self.threads)
        return [Check("connections", alive)]

    def ready(self) -> list[Check]:
        """The database answers, the breaker is not open, and the last heartbeat is recent."""
        return [self._database(), Check("mail_server", self.worker.breaker.state is not BreakerState.OPEN),
                Check("heartbeat", self._fresh())]

    def _fresh(self) -> bool:
        """Whether the heartbeat is recent (a drain publishes none: it counts as fresh)."""
        if not self.beats:
            return True
        limit = STALE_BEATS * HEARTBEAT_SECONDS
        return self.beat_at is not None and time.monotonic() - self.beat_at <= limit

    def _database(self) -> Check:
        """Whether the mail database answers, on a connection of the probe's own (not the busy pool)."""
        return database_check(self.probe_engine())

    def probe_engine(self) -> Engine:
        """An engine of the mail database for probes and counts, without a pool: they never wait
        behind the connections' busy one."""
        with self.lock:
            if self.engine is None:
                app = self.worker.app
                with app.app_context():
                    self.engine = probe_engine(state(app).engine.url)
            return self.engine

    def close(self) -> None:
        """Drop the probe's engine."""
        if self.engine is not None:
            self.engine.dispose()


class Telemetry:
    """One worker's metrics registry, latency histograms, health and HTTP endpoint."""

    def __init__(self, worker: Observed) -> None:
        """A registry of the worker's own, holding its collector, the histograms and the process's figures."""
        self.registry = CollectorRegistry()
        self.claim_seconds = Histogram("mailroom_claim_seconds", "Time to claim and screen a batch of rows.",
                                       registry=self.registry, buckets=CLAIM_BUCKETS)
        self.send_seconds = Histogram("mailroom_send_seconds", "Time to hand one message to the mail server.",
                                      registry=self.registry, buckets=SEND_BUCKETS)
        self.vitals = Vitals(worker)
        depth = QueueDepth(worker, self.vitals.probe_engine)
        self.registry.register(WorkerCollector(worker, depth, self.vitals))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.server: MetricsServer | None = None

    def claims(self, claims: Claims) -> Claims:
        """``claims`` with every claim timed."""
        return TimedClaims(claims, self.claim_seconds)

    def transport(self, transport: Transport) -> Transport:
        """``transport`` with every send timed."""
        return TimedTransport(transport, self.send_seconds)

    def serve(self, host: str, port: int) -> int:
        """Start answering on ``host:port`` (0: any free port); the port bound."""
        if self.server is None:
            self.server = MetricsServer((host, port), self)
            threading.Thread(target=self.server.serve_forever, name="mailroom-metrics", daemon=True).start()
            log.info("metrics and health on http://%s:%d/metrics", host, self.server.server_port)
        return int(self.server.server_port)

    def close(self) -> None:
        """Stop answering and release the port."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        self.vitals.close()

    def page(self, path: str) -> tuple[int, str, bytes]:
        """The status, content type and body of one path."""
        if path == "/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(self.registry)
        checks: Callable[[], list[Check]] | None = {"/healthz/live": self.vitals.live,
                                                    "/healthz/ready": self.vitals.ready}.get(path)
        if checks is None:
            return 404, "application/json", json.dumps({"status": "not found"}).encode()
        status, body = verdict(checks())
        return status, "application/json", json.dumps(body).encode()


class MetricsServer(ThreadingHTTPServer):
    """The HTTP server of one worker's ``Telemetry`` (a thread per request; GET only)."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], telemetry: Telemetry) -> None:
        """Bind ``address`` at once (a port in use fails the worker's start, loudly)."""
        self.telemetry = telemetry
        super().__init__(address, MetricsHandler)


class MetricsHandler(BaseHTTPRequestHandler):
    """Answers GET (and HEAD) for ``/metrics`` and the health paths; logs nothing per request."""

    server: MetricsServer

    def do_GET(self) -> None:
        """The page at the path (query strings ignored)."""
        self._answer(include_body=True)

    def do_HEAD(self) -> None:
        """The page's status and headers only."""
        self._answer(include_body=False)

    def _answer(self, include_body: bool) -> None:
        """Write the status, headers and (for GET) the body."""
        status, content_type, body = self.server.telemetry.page(self.path.split("?", 1)[0])
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if include_body:
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes come every few seconds: keep them out of the worker's log."""
