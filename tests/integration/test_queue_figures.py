"""The admin dashboard's figures and announcements' progress, read from the mail core's tally, equal
an exact count of the outbox after a fan-out (several batches, on a thread of its own on
PostgreSQL), part of a drain, a crash and a resumed run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask_mailroom.engine import claims
from flask_mailroom.queue import OutboxMessage
from sqlalchemy import event, func, select, text, update

from mailroom.extensions import db
from mailroom.services import announcements, dashboard
from mailroom.services.announcement_status import delivery_counts
from mailroom.state import now
from tests.support.announcements import add_users

TABLE = OutboxMessage.__table__


def exact_counts(announcement_id: int) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Counted from the outbox: all rows per status, the announcement's, and queued rows per kind."""
    rows = db.session.execute(select(TABLE.c.status, TABLE.c.announcement_id, TABLE.c.kind)).all()
    return (Counter(status for status, _, _ in rows),
            Counter(status for status, aid, _ in rows if aid == announcement_id),
            Counter(kind for status, _, kind in rows if status == "queued"))


def assert_dashboard_agrees(announcement_id: int) -> None:
    """The dashboard's counts, lanes and oldest age, and the announcement's progress, are exact."""
    every, ours, queued_per_kind = exact_counts(announcement_id)
    view = dashboard.overview()
    assert {s: n for s, n in view.counts.items() if n} == dict(every)
    assert {lane.name: lane.queued for lane in view.engine.lanes if lane.queued} == dict(queued_per_kind)
    assert delivery_counts([announcement_id]) == {announcement_id: dict(ours)}
    oldest = db.session.scalar(select(func.min(TABLE.c.created_at))
                               .where(TABLE.c.status.in_(["queued", "sending"])))
    expected = None if oldest is None else max(0.0, (now() - oldest).total_seconds())
    assert view.oldest_queued_seconds == expected
    db.session.commit()


def test_the_dashboard_and_progress_equal_an_exact_count_through_a_fan_out_and_a_drain(
        app: Flask, deliver: Callable[[], int]) -> None:
    add_users(app, 23)
    with app.app_context():
        announcement_id = announcements.create("Spring news", "Things are growing.").id

        def crash(count: int) -> None:
            raise RuntimeError("the machine lost power")

        with pytest.raises(RuntimeError):
            announcements.send(announcement_id, batch_size=5, progress=crash)
        assert_dashboard_agrees(announcement_id)
        assert delivery_counts([announcement_id]) == {announcement_id: {"queued": 5}}
        result = announcements.send(announcement_id, batch_size=4)
        assert (result.queued, result.already_queued) == (18, 5)
        assert_dashboard_agrees(announcement_id)
        moment = now()
        with db.engine.connect() as connection:  # a worker holds a few when the page is read
            claims.claim(connection, "busy-worker", moment, moment.replace(year=moment.year + 1), 3)
        last = db.session.scalar(select(func.max(TABLE.c.id)))
        db.session.execute(update(TABLE).where(TABLE.c.id == last).values(status="failed"))
        db.session.commit()
        assert_dashboard_agrees(announcement_id)
    assert deliver() == 19
    with app.app_context():
        assert_dashboard_agrees(announcement_id)
        assert delivery_counts([announcement_id])[announcement_id]["sent"] == 19


def test_a_fan_out_leaves_the_outbox_statistics_fresh_and_the_dashboard_reads_the_chart_once(
        app: Flask, db_backend: str) -> None:
    add_users(app, 23)
    with app.app_context():
        announcement_id = announcements.create("Spring news", "Things are growing.").id
        announcements.send(announcement_id, batch_size=10)
        copies = db.session.scalar(select(func.count()).select_from(TABLE))
        if db_backend == "postgresql":  # ANALYZE counted the rows the fan-out inserted
            reltuples = db.session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'outbox'"))
            assert reltuples == copies == 23
        db.session.commit()
        statements: list[str] = []
        listen = event.listens_for(db.engine, "before_cursor_execute")

        @listen
        def seen(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement)

        dashboard.overview_for(3, 640)
        event.remove(db.engine, "before_cursor_execute", seen)
        charts = [s for s in statements if "sent_at" in s and "GROUP BY" in s]
        assert len(charts) == 1  # the chart's query ran once, for the width asked
