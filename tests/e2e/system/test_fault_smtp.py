"""Drill: the mail provider is down for 20 seconds while 300 people ask for reset links."""

from __future__ import annotations

import time

from tests.e2e.deploy.deployment import Deployment
from tests.e2e.deploy.drills import delivered, outbox_rows, request_resets, seed_users, tally
from tests.e2e.deploy.processes import wait_until
from tests.e2e.deploy.report import DrillReport

REQUESTS = 300
OUTAGE_SECONDS = 20.0
PREFIX = "outage"
# What a worker logs once per refused connection attempt (one per probe of its circuit breaker).
REFUSED = "cannot reach the mail server"
MAX_REFUSED_PER_WORKER = 30


def refused_attempts(live: Deployment) -> list[int]:
    """Refused connection attempts logged so far by each running mail worker."""
    return [worker.log_path.read_text(errors="replace").count(REFUSED) if worker else 0
            for worker in live.workers]


def test_smtp_outage_delivers_every_reset_email_once(live: Deployment, report: DrillReport) -> None:
    addresses = seed_users(live, PREFIX, REQUESTS)
    refused_before = refused_attempts(live)
    live.provider.stop()
    stopped = time.monotonic()
    replies = request_resets(live, addresses)
    answered = time.monotonic() - stopped
    assert [r.status for r in replies] == [302] * REQUESTS, "every request gets the same redirect"
    assert {r.location for r in replies} == {"/auth/reset_password/sent"}

    def outage_felt() -> bool:
        """All 300 rows queued, every worker refused by the dead server, and 20 s gone."""
        rows = outbox_rows(live, PREFIX)
        felt = all(now > before for now, before in zip(refused_attempts(live), refused_before,
                                                        strict=True))
        return (len(rows) == REQUESTS and all(r.status == "queued" for r in rows) and felt
                and time.monotonic() - stopped >= OUTAGE_SECONDS)

    wait_until(outage_felt, OUTAGE_SECONDS + 60,
               "every worker to have found the server stopped, for 20 s",
               lambda: f"outbox: {live.outbox_counts()}")
    during = outbox_rows(live, PREFIX)
    refused = [now - before for now, before in zip(refused_attempts(live), refused_before, strict=True)]
    outage = time.monotonic() - stopped
    live.provider.start()
    restarted = time.monotonic()
    wait_until(lambda: all(r.status == "sent" for r in outbox_rows(live, PREFIX)), 120,
               "every reset email to be delivered after the server came back",
               lambda: f"outbox: {live.outbox_counts()}")
    drained = time.monotonic() - restarted

    rows = outbox_rows(live, PREFIX)
    result = tally(rows, delivered(live, PREFIX))
    report.counts("SMTP stopped while reset requests arrived", requests=len(replies),
                  answered_in_s=round(answered, 1), outage_s=round(outage, 1),
                  refused_connection_attempts_per_worker=refused,
                  attempts_charged_to_messages_during_outage=sum(r.attempts for r in during),
                  drained_after_restart_s=round(drained, 1))
    report.counts("reset emails", **result.figures())
    recipients = {r.lower() for m in delivered(live, PREFIX) for r in m.rcpt_tos}
    assert recipients == {a.lower() for a in addresses}
    assert all(n <= MAX_REFUSED_PER_WORKER for n in refused), f"refused attempts per worker: {refused}"
    assert sum(r.attempts for r in during) == 0, "the outage cost no message an attempt"
    assert (result.queued, result.sent, result.unique) == (REQUESTS, REQUESTS, REQUESTS)
    assert result.lost == 0
    assert result.repeated == 0, f"delivered twice: {sorted(result.repeated_ids)}"
    assert result.strangers == 0
