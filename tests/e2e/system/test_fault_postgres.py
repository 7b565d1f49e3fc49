"""Drill: PostgreSQL restarts while visitors keep asking for pages and reset links."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass

from tests.e2e.deploy.deployment import Deployment
from tests.e2e.deploy.drills import delivered, outbox_rows, seed_users, tally
from tests.e2e.deploy.processes import wait_until
from tests.e2e.deploy.report import DrillReport
from tests.e2e.deploy.web import WebClient, leaks_trace

PREFIX = "pgdrill"
ACCOUNTS = 50
VISITORS = 4
WARM_UP = 40
AFTER = 60


@dataclass(frozen=True)
class Attempt:
    """One request of the load: when it started and ended, what it was and how it went."""

    started: float
    ended: float
    kind: str
    status: int
    trace: bool
    error_page: bool

    @property
    def ok(self) -> bool:
        """A page (200) or the reset form's redirect (302)."""
        return self.status in (200, 302)


class Load:
    """Visitors that alternate the sign-in page and reset requests until told to stop."""

    def __init__(self, live: Deployment, addresses: list[str]) -> None:
        self.live = live
        self.addresses = itertools.cycle(addresses)
        self.lock = threading.Lock()
        self.attempts: list[Attempt] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.visit, daemon=True) for _ in range(VISITORS)]

    def visit(self) -> None:
        """One visitor's loop."""
        client = WebClient(self.live.base_url, timeout=20)
        token = client.csrf("/auth/reset_password_request")
        while not self.stop.is_set():
            with self.lock:
                address = next(self.addresses)
            self.record("page", lambda: client.get("/auth/reset_password_request"))
            self.record("reset", lambda a=address: client.post_form(
                "/auth/reset_password_request", {"email": a, "csrf_token": token}))

    def record(self, kind: str, call: object) -> None:
        """Time one request and keep what came back."""
        started = time.monotonic()
        reply = call()  # type: ignore[operator]
        with self.lock:
            self.attempts.append(Attempt(started, time.monotonic(), kind, reply.status,
                                         leaks_trace(reply.body), 'id="error-message"' in reply.body))

    def count(self, since: float = 0.0, kind: str | None = None) -> int:
        """Successful requests that started after ``since``."""
        with self.lock:
            return sum(1 for a in self.attempts if a.ok and a.started >= since and kind in (None, a.kind))

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)


def test_postgres_restart_under_load_loses_no_outbox_row(live: Deployment, report: DrillReport) -> None:
    addresses = seed_users(live, PREFIX, ACCOUNTS)
    with Load(live, addresses) as load:
        wait_until(lambda: load.count(kind="reset") >= WARM_UP, 60, "load to warm up")
        down = time.monotonic()
        live.postgres.stop()
        live.postgres.start()
        up = time.monotonic()
        wait_until(lambda: load.count(since=up, kind="reset") >= AFTER, 90,
                   "requests to succeed after the restart")
    attempts = list(load.attempts)

    failed = [a for a in attempts if not a.ok]
    in_flight = [a for a in attempts if a.started <= up and a.ended >= down]
    later = [a for a in attempts if a.started >= up]
    acknowledged = sum(1 for a in attempts if a.kind == "reset" and a.status == 302)
    wait_until(lambda: all(r.status == "sent" for r in outbox_rows(live, PREFIX)), 120,
               "every queued reset email to be delivered", lambda: f"outbox: {live.outbox_counts()}")
    result = tally(outbox_rows(live, PREFIX), delivered(live, PREFIX))

    report.counts("PostgreSQL restarted under load", requests=len(attempts),
                  restart_s=round(up - down, 1), in_flight=len(in_flight), failed=len(failed),
                  failed_statuses=sorted({a.status for a in failed}),
                  stack_traces=sum(a.trace for a in attempts), after_restart=len(later),
                  after_restart_failed=sum(1 for a in later if not a.ok))
    report.counts("reset emails", acknowledged_requests=acknowledged, **result.figures())
    assert not any(a.trace for a in attempts), "a body showed a stack trace"
    # The database being away is a 503 page with Retry-After, never a 500.
    assert all(a.status == 503 and a.error_page for a in failed), f"unclean failures: {failed[:5]}"
    assert all(a.ok for a in later), f"failures after the restart: {[a for a in later if not a.ok][:5]}"
    # Every acknowledged request kept its email; a request cut off mid-commit may have kept it too.
    assert acknowledged <= result.queued <= acknowledged + len(failed)
    assert result.lost == 0
    assert result.sent == result.queued == result.unique
