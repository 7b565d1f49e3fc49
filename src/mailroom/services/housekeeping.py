"""Sweeping what has stopped counting: sessions past their idle limit and lapsed reset handoffs.

Both are refused when read anyway (``sessions.is_alive``, ``reset.handed_off_token``); the sweep
only keeps their tables small. ``flask users sweep`` runs it at once (for cron); each web process
also runs it before a request when SWEEP_INTERVAL seconds have passed since its last sweep (by the
application's clock), so no operator is needed. Flask-Mailroom's worker offers no hook for a
host's jobs, and the sweep is two small deletes that any number of processes may repeat.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from mailroom.extensions import db
from mailroom.services import reset, sessions
from mailroom.state import now, state

log = logging.getLogger(__name__)
SERVICE = "housekeeping"


@dataclass(frozen=True)
class Swept:
    """How many rows one sweep deleted."""

    sessions: int
    handoffs: int


@dataclass
class SweepSchedule:
    """When this process last swept, and the lock that lets one request at a time start a sweep."""

    last: datetime | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


def sweep() -> Swept:
    """Delete the expired sessions and reset handoffs, in one transaction."""
    swept = Swept(sessions=sessions.sweep_expired(), handoffs=reset.sweep_handoffs())
    db.session.commit()
    return swept


def _schedule() -> SweepSchedule:
    """This application's schedule, created on first use."""
    services = state().services
    schedule = services.setdefault(SERVICE, SweepSchedule())
    assert isinstance(schedule, SweepSchedule)
    return schedule


def _claim_turn() -> bool:
    """Whether this request should sweep now (noting it), with SWEEP_INTERVAL since the last."""
    interval = int(current_app.config["SWEEP_INTERVAL"])
    if interval <= 0:
        return False
    schedule, moment = _schedule(), now()
    with schedule.lock:
        if schedule.last is not None and moment - schedule.last < timedelta(seconds=interval):
            return False
        schedule.last = moment
        return True


def sweep_if_due() -> Swept | None:
    """Sweep when this process's turn has come; a database error is logged, never raised."""
    if not _claim_turn():
        return None
    try:
        return sweep()
    except SQLAlchemyError as error:
        db.session.rollback()
        cause = getattr(error, "orig", None) or error
        log.warning("sweep of expired sessions and reset handoffs skipped: %s", type(cause).__name__)
        return None
