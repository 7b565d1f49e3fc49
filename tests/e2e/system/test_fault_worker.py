"""Drill: a mail worker is killed with SIGKILL three times while 1,000 emails drain."""

from __future__ import annotations

import time

from tests.e2e.deploy.deployment import Deployment
from tests.e2e.deploy.drills import delivered, outbox_rows, tally
from tests.e2e.deploy.processes import wait_until
from tests.e2e.deploy.report import DrillReport

MESSAGES = 1000
PREFIX = "killdrill"
# Kill when this many of the 1,000 have arrived: early, midway and late in the drain.
KILL_AT = (150, 400, 650)
# A provider that takes 150 ms per message, as real ones do, so the drain lasts long enough to
# be interrupted three times (2 workers of 8 connections: about 100 messages a second).
PROVIDER_LATENCY = 0.15


def in_flight(live: Deployment, pid: int) -> set[str]:
    """Message-IDs the dead worker had claimed and not finished (its worker id holds its pid)."""
    rows = live.query("SELECT message_id FROM outbox WHERE status = 'sending' AND claimed_by LIKE %(p)s",
                      {"p": f"%:{pid}:%"})
    return {str(mid) for (mid,) in rows}


def test_sigkilled_worker_loses_nothing(live: Deployment, report: DrillReport) -> None:
    live.provider.mailbox.latency = PROVIDER_LATENCY
    live.python("tests.e2e.deploy.seed", "mail", "--prefix", PREFIX, "--count", str(MESSAGES))
    started = time.monotonic()
    held: set[str] = set()
    kills: list[tuple[int, int, int]] = []
    for number, threshold in enumerate(KILL_AT):
        wait_until(lambda t=threshold: len(delivered(live, PREFIX)) >= t,  # type: ignore[misc]
                   120, f"{threshold} messages to arrive")
        victim = number % len(live.workers)
        pid = live.kill_worker(victim)
        unfinished = in_flight(live, pid)
        held |= unfinished
        kills.append((pid, len(delivered(live, PREFIX)), len(unfinished)))
        live.start_worker(victim)
    wait_until(lambda: all(r.status == "sent" for r in outbox_rows(live, PREFIX)), 180,
               "every message to be delivered", lambda: f"outbox: {live.outbox_counts()}")
    elapsed = time.monotonic() - started

    result = tally(outbox_rows(live, PREFIX), delivered(live, PREFIX))
    for pid, arrived, claimed in kills:
        report.counts("SIGKILL", worker_pid=pid, delivered_before_kill=arrived,
                      claimed_and_unfinished=claimed)
    report.counts("1,000 emails drained through 3 kills", seconds=round(elapsed, 1),
                  in_flight_at_kills=len(held), **result.figures())
    assert all(arrived < MESSAGES for _, arrived, _ in kills), "every kill happened mid-drain"
    assert held, "no kill caught a worker holding messages: the drill proved nothing"
    assert (result.queued, result.sent, result.unique, result.lost) == (MESSAGES, MESSAGES, MESSAGES, 0)
    assert result.strangers == 0
    assert result.repeated_ids <= held, (
        f"repeated but never in a killed worker's hands: {sorted(result.repeated_ids - held)}")
    assert result.repeated <= len(held)
