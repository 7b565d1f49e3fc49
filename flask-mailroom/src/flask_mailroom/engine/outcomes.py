"""The hook after a send: what happened to each claimed row, handed to the outcome writer.

Every outcome is written on the writer's thread (``recorder``), in groups. A copy filled once for
this attempt is stored with its outcome; a final outcome drops an account body; recipients
refused with 5xx are recorded as bounces; a delivery fires ``email_delivered``. A row given back
(stopping, server unreachable, throttled) does not use an attempt.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from flask import Flask

from flask_mailroom.compose import deferred
from flask_mailroom.compose.parse import message_from_raw
from flask_mailroom.deliverability import suppression as deliverability
from flask_mailroom.engine import claims
from flask_mailroom.engine.recorder import Outcome, OutcomeWriter
from flask_mailroom.engine.runtime import Runtime
from flask_mailroom.engine.transport import DeliveryError, Refused
from flask_mailroom.models.outbox import Claimed, OutboxStatus
from flask_mailroom.rules.backoff import RetryPolicy
from flask_mailroom.rules.suppression import Screening
from flask_mailroom.signals import email_delivered

log = logging.getLogger(__name__)

QUEUED = OutboxStatus.QUEUED.value
SENT = OutboxStatus.SENT.value
FAILED = OutboxStatus.FAILED.value
MAX_ERROR = 2000
SENT_VALUES = {"status": SENT, "last_error": None}
# Giving a row back does not use its attempt (the claim counted one).
UNCOUNTED = {"attempts": claims.TABLE.c.attempts - 1}


def policy_for(app: Flask) -> RetryPolicy:
    """The retry policy from configuration."""
    config = app.config
    return RetryPolicy(base_seconds=config["OUTBOX_BACKOFF_BASE"],
                       max_seconds=config["OUTBOX_BACKOFF_MAX"],
                       max_attempts=config["OUTBOX_MAX_ATTEMPTS"])


def with_body(row: Claimed, outcome: Outcome) -> Outcome:
    """The outcome with what it does to the row's body: a copy filled once for this attempt is
    stored with it (a retry then sends the same bytes), and a final outcome drops an account body
    (one with an expiry: a link or a code)."""
    final = deliverability.is_final(outcome.values)
    built = deferred.unstored(row)
    if built:
        if final and row.expires_at is not None:
            built["raw"] = b""
        return Outcome(outcome.row_id, {**built, **outcome.values}, outcome.expressions, outcome.stamp)
    if final:
        return Outcome(outcome.row_id, outcome.values,
                       {**outcome.expressions, **deliverability.drop_account_body()}, outcome.stamp)
    return outcome


class Recorder:
    """Turns what happened to a claimed row into its outcome, counts it, and hands it to the writer."""

    def __init__(self, runtime: Runtime, writer: OutcomeWriter) -> None:
        """Write through ``writer``, counting in ``runtime``'s statistics."""
        self.runtime = runtime
        self.writer = writer

    def record(self, row: Claimed, outcome: Outcome, refused: Refused | None = None) -> None:
        """Write what happened to a claimed row (on the writer's thread, in groups), with its effects
        on the body (``with_body``); recipients refused with 5xx are recorded as bounces."""
        self.writer.put(with_body(row, outcome))
        if refused:
            deliverability.record_refusals(row.id, refused, "smtp")

    def sent(self, row: Claimed, refused: Refused, reply: str = "") -> None:
        """Record a delivery (with the server's reply) and signal it; recipients refused with 4xx keep
        the row queued for them."""
        self.runtime.count("sent")
        if refused:
            self.record(row, self._partly_sent(row, refused), refused)
        else:
            self.record(row, Outcome(row.id, {**SENT_VALUES, "server_reply": reply[:MAX_ERROR] or None},
                                     stamp="sent_at"))
        self._signal(row)

    def withhold(self, row: Claimed, found: Screening) -> None:
        """Close a row that must not go out (its link expired, or everyone is suppressed)."""
        self.runtime.count(found.verdict.value)
        self.record(row, Outcome(row.id, deliverability.withheld_values(found), stamp="closed_at"))

    def _retry_at(self, row: Claimed) -> datetime | None:
        """When the row's next attempt is due, with backoff and jitter; None once attempts are used up."""
        return policy_for(self.runtime.app).next_attempt(row.attempts, self.runtime.now(), self.runtime.rng)

    def _partly_sent(self, row: Claimed, refused: Refused) -> Outcome:
        """Sent, noting who refused; queued again for those refused with 4xx while attempts last."""
        note = "; ".join(f"{a}: {c} {t}" for a, (c, t) in sorted(refused.items()))[:MAX_ERROR]
        later = [a for a in row.recipients if a in refused and not 500 <= refused[a][0] < 600]
        retry_at = self._retry_at(row) if later else None
        if retry_at is None:
            return Outcome(row.id, {"status": SENT, "last_error": note}, stamp="sent_at")
        return Outcome(row.id, {"status": QUEUED, "recipients": later, "next_attempt_at": retry_at,
                                "last_error": note})

    def failed(self, row: Claimed, error: DeliveryError) -> None:
        """Retry later with backoff and jitter, or give up: permanent errors and exhausted attempts fail."""
        text = str(error)[:MAX_ERROR]
        retry_at = None if error.permanent else self._retry_at(row)
        if retry_at is None or row.attempts >= row.max_attempts:
            log.warning("message %s failed: %s", row.message_id, text)
            self.runtime.count("failed")
            self.record(row, Outcome(row.id, {"status": FAILED, "last_error": text}, stamp="failed_at"),
                        error.refused)
        else:
            self.runtime.count("retried")
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
            self.record(row, Outcome(row.id, values, UNCOUNTED))

    def throttled(self, row: Claimed, error: DeliveryError, pause: float) -> None:
        """The server said "slow down" (every connection now pauses ``pause`` s): give the row back
        without using an attempt; a row throttled OUTBOX_MAX_THROTTLES times fails, saying so."""
        throttles = row.throttles + 1
        if throttles >= self.runtime.settings().max_throttles:
            self.runtime.count("failed")
            reason = (f"gave up after {throttles} throttling replies "
                      f"(the server kept asking to slow down): {error}")
            self.record(row, Outcome(row.id, {"status": FAILED, "last_error": reason[:MAX_ERROR],
                                              "throttles": throttles}, UNCOUNTED, stamp="failed_at"))
            return
        # Due no later than the pause ends (whole milliseconds: never a microsecond after it).
        resume = timedelta(milliseconds=int(pause * 1000))
        self.record(row, Outcome(row.id, {"status": QUEUED, "last_error": str(error)[:MAX_ERROR],
                                          "throttles": throttles,
                                          "next_attempt_at": self.runtime.now() + resume}, UNCOUNTED))

    def _signal(self, row: Claimed) -> None:
        """Fire ``email_delivered`` with the message as delivered (rebuilt only when someone listens)."""
        if email_delivered.receivers:
            email_delivered.send(self.runtime.app, message=message_from_raw(row.raw, row.recipients))
