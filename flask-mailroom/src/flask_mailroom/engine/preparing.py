"""The hook before a send: whether (and in what form) a claimed row goes out, readied ahead.

The place for pre-send checks: a screened-out row is withheld (expired, suppressed), a row past
its attempts fails, a deferred row is built. A row that has to be rendered is prepared on a small
pool while its connection sends the message before it; one whose bytes are stored, or a copy filled
from a prepared layout, is readied on the connection's own thread (cheaper than handing it over).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from flask_mailroom.compose import deferred
from flask_mailroom.engine.claiming import ClaimDesk
from flask_mailroom.engine.outcomes import Recorder
from flask_mailroom.engine.runtime import Runtime
from flask_mailroom.engine.shared import Pending, Ready
from flask_mailroom.engine.transport import PermanentFailure, TemporaryFailure
from flask_mailroom.models.outbox import Claimed
from flask_mailroom.rules.suppression import Screening, Verdict

log = logging.getLogger(__name__)


class Done:
    """A preparation finished on the caller's thread: a Future's ``result`` and ``cancel`` without
    its condition variable (most copies are prepared this way)."""

    def __init__(self, ready: Ready | None, error: Exception | None = None) -> None:
        """The outcome: ``ready``, or the ``error`` that ``result`` raises."""
        self.ready = ready
        self.error = error

    def result(self) -> Ready:
        """The prepared row, or the preparation's error raised."""
        if self.error is not None:
            raise self.error
        assert self.ready is not None
        return self.ready

    def cancel(self) -> bool:
        """Too late: it is done."""
        return False


class Preparation:
    """Prepares the claimed rows of one run, on a pool of ``threads`` (none: on the caller's thread)."""

    def __init__(self, runtime: Runtime, desk: ClaimDesk, recorder: Recorder, threads: int = 0) -> None:
        """Start the pool when there is one."""
        self.runtime = runtime
        self.desk = desk
        self.recorder = recorder
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="mailroom-prepare") if threads else None

    def close(self) -> None:
        """Wait for the pool's work to finish, then let its threads go."""
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = None

    def prepare(self, row: Claimed, found: Screening | None = None) -> Claimed | None:
        """Decide whether a claimed row is sent and in what form; None when its outcome is recorded here."""
        if found is not None and found.verdict is not Verdict.SEND:
            self.recorder.withhold(row, found)
            return None
        if found is not None:
            row = row.but(recipients=list(found.recipients))
        if row.attempts > row.max_attempts:
            self.recorder.failed(row, PermanentFailure(
                f"gave up after {row.attempts - 1} attempts (workers stopped mid-delivery)"))
            return None
        if not row.raw:
            return self._materialize(row)
        return row

    def prepare_ahead(self, row: Claimed, found: Screening | None, now: bool = False) -> Pending:
        """Prepare ``row`` on the pool when it has to be rendered while another is sent; at once,
        on this thread, when ``now`` (the first row of a claim: nothing is being sent meanwhile,
        and a lone account email then skips the pool's own application context and database
        session), when its bytes are stored or it is filled from a prepared layout (cheaper than
        handing it over), or when there is no pool."""
        if self.pool is not None and not now and not row.raw and not deferred.fills_copy(row):
            return self.pool.submit(self._prepared_apart, row, found)
        try:
            return Done(self._prepared(row, found))
        except Exception as error:
            return Done(None, error)

    def _prepared_apart(self, row: Claimed, found: Screening | None) -> Ready:
        """``_prepared`` on a pool thread, in an application context (and database session) of its own."""
        with self.runtime.app.app_context():
            return self._prepared(row, found)

    def _prepared(self, row: Claimed, found: Screening | None) -> Ready:
        """``prepare``, once the claim is known to be usable."""
        if not self.desk.usable(row):
            return Ready(None, True)
        prepared = self.prepare(row, found)
        return Ready(prepared, prepared is None)

    def _materialize(self, row: Claimed) -> Claimed | None:
        """Build a deferred row's message; None when there is nothing to send (or it failed)."""
        try:
            built = deferred.materialize(row, self.runtime.worker_id)
        except Exception as error:  # a builder's bug or a database hiccup: retry like a 4xx
            log.warning("building deferred message %s failed: %s", row.message_id, type(error).__name__)
            self.recorder.failed(row, TemporaryFailure(f"building the message failed: {error!r}"[:200]))
            return None
        if built is None:
            self.runtime.count("skipped")
        return built
