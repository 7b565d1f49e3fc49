"""What the mail system is doing: counts, queue age, deliveries per minute, failures, retries.

The page refreshes every few seconds with a queue of up to a million rows, so nothing here counts
the outbox: the counts are sums kept by triggers (``flask_mailroom.queue``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask_babel import get_timezone
from flask_mailroom.queue import (
    Engine,
    OutboxMessage,
    OutboxStatus,
    engine_status,
    oldest_waiting,
    status_counts,
)
from flask_mailroom.queue import retry_failed as mail_retry_failed
from sqlalchemy import String, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from mailroom.domain.chart import Chart, Frame, choose_bucket, clamp_width, layout, minute_range
from mailroom.extensions import db
from mailroom.state import now

MINUTE_FORMAT = "%Y-%m-%dT%H:%M"
MAX_HOURS = 24
RECENT_FAILURES = 20


class minute_of(FunctionElement[str]):  # noqa: N801  (an SQL function, named like one)
    """SQL: a timestamp truncated to its minute, as text 'YYYY-MM-DDTHH:MM' on every database."""

    type = String()
    inherit_cache = True


@compiles(minute_of, "sqlite")
def _minute_of_sqlite(element: minute_of, compiler: SQLCompiler, **kw: Any) -> str:
    """SQLite keeps timestamps as ISO text: strftime reads them."""
    return f"strftime('{MINUTE_FORMAT}', {compiler.process(element.clauses, **kw)})"


@compiles(minute_of, "postgresql")
def _minute_of_postgresql(element: minute_of, compiler: SQLCompiler, **kw: Any) -> str:
    """PostgreSQL formats the timestamp with to_char in the same shape."""
    return f"""to_char({compiler.process(element.clauses, **kw)}, 'YYYY-MM-DD"T"HH24:MI')"""


@dataclass(frozen=True)
class Failure:
    """A message that gave up, with the error the mail server gave."""

    id: int
    kind: str
    recipients: list[str]
    subject: str
    attempts: int
    failed_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class Overview:
    """The whole dashboard."""

    counts: dict[str, int]
    oldest_queued_seconds: float | None
    chart: Chart
    hours: int
    failures: list[Failure]
    engine: Engine


def oldest_queued_seconds(moment: datetime | None = None) -> float | None:
    """Seconds the oldest undelivered message has waited (the same figure as ``flask mail status``,
    read from the index of waiting rows alone)."""
    oldest = oldest_waiting()
    if oldest is None:
        return None
    return max(0.0, ((moment or now()) - oldest).total_seconds())


def per_minute(column: Any, since: datetime) -> dict[datetime, int]:
    """Rows whose ``column`` time is at or after ``since``, counted per minute by the database."""
    bucket = minute_of(column).label("minute")
    query = select(bucket, func.count()).where(column >= since).group_by(bucket)
    return {datetime.strptime(minute, MINUTE_FORMAT).replace(tzinfo=UTC): int(count)
            for minute, count in db.session.execute(query)}


def delivery_chart(moment: datetime, hours: int, width: int | None = None) -> Chart:
    """Sent and failed messages over the last ``hours`` hours, in buckets that fit ``width`` pixels."""
    minutes = hours * 60
    frame = Frame(width=float(clamp_width(width)))
    bucket = choose_bucket(minutes, frame.plot_width)
    since = minute_range(moment, -(-minutes // bucket), bucket)[0]
    series = [("sent", per_minute(OutboxMessage.sent_at, since)),
              ("failed", per_minute(OutboxMessage.failed_at, since))]
    return layout(series, moment, minutes, frame, bucket, get_timezone())


def recent_failures(limit: int = RECENT_FAILURES) -> list[Failure]:
    """The most recent failed messages, newest first."""
    # failed_at is set on every failure: saying so lets the partial index of set failed_at values
    # serve the newest first, where the planner would otherwise read every row of a full queue.
    rows = db.session.scalars(select(OutboxMessage)
                              .where(OutboxMessage.status == OutboxStatus.FAILED.value,
                                     OutboxMessage.failed_at.is_not(None))
                              .order_by(OutboxMessage.failed_at.desc(), OutboxMessage.id.desc())
                              .limit(limit))
    return [Failure(r.id, r.kind, list(r.recipients), r.subject, r.attempts, r.failed_at,
                    r.last_error) for r in rows]


def overview(hours: int = 3, width: int | None = None) -> Overview:
    """Everything the dashboard shows, read at one moment of the application's clock, its chart
    laid out for ``width`` pixels."""
    if not 1 <= hours <= MAX_HOURS:
        raise ValueError(f"hours must be between 1 and {MAX_HOURS}")
    moment = now()
    # Every figure is read without counting the outbox: status counts from the triggers' tally,
    # the rest from partial indexes (see flask_mailroom.queue).
    result = Overview(status_counts(), oldest_queued_seconds(moment), delivery_chart(moment, hours, width),
                      hours, recent_failures(), engine_status())
    db.session.commit()
    return result


def retry_failed(ids: Sequence[int] | None = None) -> int:
    """Queue failed messages again with a fresh set of attempts (all of them, or those ``ids``)."""
    # A failed message without its body (dropped after the retention period, or because it carried
    # a link or a code) cannot be sent again: the person asks for a new one.
    return mail_retry_failed(None if ids is None else list(ids))


def overview_for(hours: int, width: int | None) -> Overview:
    """The overview with its chart laid out for ``width`` pixels (what the browser measured)."""
    return overview(hours, width)
