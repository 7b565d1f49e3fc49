"""The outbox's figures without counting it: sums of ``outbox_tally``, and folding that table.

Triggers (migration m0003) append to ``outbox_tally`` the change in rows per kind, status,
announcement and builder, in the same transaction as the change, so a sum read in any snapshot
agrees with a count of the outbox in that snapshot. Nothing updates a counter row in place (no
two transactions ever wait for one another here); instead the worker folds the appended rows
into one per group every second or so, which keeps the sums a read of a few dozen rows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, delete, func, insert, literal_column, select
from sqlalchemy.orm import Session

from flask_mailroom.models.outbox import PRIORITY, OutboxMessage, OutboxStatus, OutboxTally

TABLE = OutboxTally.__table__
OUTBOX = OutboxMessage.__table__
QUEUED_ROWS = OUTBOX.c.status == literal_column(f"'{OutboxStatus.QUEUED.value}'")
KIND_OF = {priority: kind for kind, priority in PRIORITY.items()}
GROUP = (TABLE.c.kind, TABLE.c.status, TABLE.c.announcement_id, TABLE.c.builder)
FOLD_POSTGRESQL = """
WITH gone AS (DELETE FROM outbox_tally RETURNING kind, status, announcement_id, builder, delta)
INSERT INTO outbox_tally (kind, status, announcement_id, builder, delta)
SELECT kind, status, announcement_id, builder, sum(delta) FROM gone
GROUP BY kind, status, announcement_id, builder HAVING sum(delta) <> 0
"""


@dataclass(frozen=True)
class Group:
    """How many outbox rows have this kind, status, announcement and (unbuilt deferred) builder."""

    kind: str
    status: str
    announcement_id: int | None
    builder: str | None
    rows: int


def groups(reader: Connection | Session) -> list[Group]:
    """Every non-empty group, summed by the database."""
    total = func.sum(TABLE.c.delta)
    query = select(*GROUP, total).group_by(*GROUP).having(total != 0)
    return [Group(kind, status, aid, builder, int(rows)) for kind, status, aid, builder, rows
            in reader.execute(query)]


def by_status(found: list[Group]) -> Counter[str]:
    """Rows per status."""
    counts: Counter[str] = Counter()
    for group in found:
        counts[group.status] += group.rows
    return counts


def by_kind(found: list[Group], status: str) -> Counter[str]:
    """Rows in ``status`` per kind of mail."""
    counts: Counter[str] = Counter()
    for group in found:
        if group.status == status:
            counts[group.kind] += group.rows
    return counts


def by_builder(found: list[Group], statuses: tuple[str, ...]) -> Counter[str]:
    """Deferred rows not built yet in ``statuses``, per builder name."""
    counts: Counter[str] = Counter()
    for group in found:
        if group.builder is not None and group.status in statuses:
            counts[group.builder] += group.rows
    return counts


def by_announcement(found: list[Group], ids: set[int]) -> dict[int, Counter[str]]:
    """Rows per status of each announcement in ``ids``."""
    counts: dict[int, Counter[str]] = {}
    for group in found:
        if group.announcement_id in ids:
            counts.setdefault(group.announcement_id, Counter())[group.status] += group.rows
    return counts


def not_due(reader: Connection | Session, moment: datetime) -> Counter[str]:
    """Queued rows not due yet (retries waiting out their backoff: few), per kind of mail; each
    priority is a range of the claim's partial index, so the due rows are never walked."""
    priorities: list[ColumnElement[int]] = [literal_column(str(priority)) for priority in KIND_OF]
    query = (select(OUTBOX.c.priority, func.count())
             .where(QUEUED_ROWS, OUTBOX.c.priority.in_(priorities), OUTBOX.c.next_attempt_at > moment)
             .group_by(OUTBOX.c.priority))
    return Counter({KIND_OF[int(priority)]: int(rows) for priority, rows in reader.execute(query)})


def fold(connection: Connection) -> None:
    """Replace the appended rows by one per group, in one transaction (the sums do not change).

    On PostgreSQL one statement deletes exactly the rows it sums (rows committed meanwhile stay);
    SQLite runs it under its single write lock.
    """
    with connection.begin():
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(FOLD_POSTGRESQL)
            return
        last = connection.scalar(select(func.max(TABLE.c.id)))
        if last is None:
            return
        total = func.sum(TABLE.c.delta)
        summed = select(*GROUP, total).where(TABLE.c.id <= last).group_by(*GROUP).having(total != 0)
        rows = [dict(zip(("kind", "status", "announcement_id", "builder", "delta"), row, strict=True))
                for row in connection.execute(summed)]
        connection.execute(delete(TABLE).where(TABLE.c.id <= last))
        if rows:
            connection.execute(insert(TABLE), rows)

