"""Drill: one of three mail workers is cut off from PostgreSQL for a minute in the middle of a drain."""

from __future__ import annotations

import os
import signal
import time

from tests.e2e.deploy.deployment import Deployment
from tests.e2e.deploy.drills import delivered, outbox_rows, tally
from tests.e2e.deploy.processes import wait_until
from tests.e2e.deploy.proxy import CuttableProxy
from tests.e2e.deploy.report import DrillReport
from tests.e2e.system.test_fault_worker import in_flight

PREFIX = "cutdrill"
# 60 s as the issue asks; MAILROOM_DRILL_CUT_SECONDS shortens it where the suite's time is short.
CUT_SECONDS = float(os.environ.get("MAILROOM_DRILL_CUT_SECONDS", "60"))
# A provider that takes a second per message keeps 24 connections busy for the whole drill.
PROVIDER_LATENCY = 1.0
MESSAGES = 240 + int(20 * CUT_SECONDS)
SLICE_SECONDS = 10.0


def test_a_worker_cut_off_from_postgresql_loses_nothing_and_the_others_keep_delivering(
        live: Deployment, report: DrillReport) -> None:
    live.provider.mailbox.latency = PROVIDER_LATENCY
    proxy = CuttableProxy(live.postgres.port).start()
    url = f"postgresql://postgres@127.0.0.1:{proxy.port}/mailroom"
    cut_off = live.start_extra_worker("cut-off", DATABASE_URL=url)
    try:
        live.python("tests.e2e.deploy.seed", "mail", "--prefix", PREFIX, "--count", str(MESSAGES))
        wait_until(lambda: len(delivered(live, PREFIX)) >= 100 and in_flight(live, cut_off.pid), 120,
                   "the drain to be under way with the third worker holding messages")
        proxy.cut()
        cut_at = time.monotonic()
        held = in_flight(live, cut_off.pid)  # frozen: the cut-off worker can no longer write
        progress = []
        while time.monotonic() - cut_at < CUT_SECONDS:
            before = len(delivered(live, PREFIX))
            end = min(cut_at + CUT_SECONDS, time.monotonic() + SLICE_SECONDS)
            wait_until(lambda e=end: time.monotonic() >= e, SLICE_SECONDS + 5, "the slice to pass")  # type: ignore[misc]
            progress.append(len(delivered(live, PREFIX)) - before)
        proxy.restore()
        assert cut_off.alive(), "the cut-off worker survived without its database"
        wait_until(lambda: all(r.status == "sent" for r in outbox_rows(live, PREFIX)), 240,
                   "every message to be delivered", lambda: f"outbox: {live.outbox_counts()}")
        result = tally(outbox_rows(live, PREFIX), delivered(live, PREFIX))
        resumed = live.query("SELECT count(*) FROM outbox WHERE status = 'sending'")[0][0] == 0
    finally:
        cut_off.stop(signal.SIGTERM)
        proxy.stop()

    report.counts("third worker cut off from PostgreSQL mid-drain", cut_s=round(CUT_SECONDS),
                  held_at_cut=len(held), delivered_per_10s_during_cut=progress, **result.figures())
    assert held, "the cut caught the worker holding messages, or the drill proved nothing"
    assert all(n > 0 for n in progress), f"the other workers stalled during the cut: {progress}"
    assert (result.queued, result.sent, result.unique, result.lost) == (MESSAGES, MESSAGES, MESSAGES, 0)
    assert result.strangers == 0, "every repeat carried the message's own Message-ID"
    assert result.repeated_ids <= held, (
        f"repeated but never held by the cut-off worker: {sorted(result.repeated_ids - held)}")
    assert result.repeated <= len(held)
    assert resumed
