"""The queue at scale: figures from the triggers' tally, outcomes written in batches, the claim's
index, and the migration that brings them (m0003), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask_mail import Message
from sqlalchemy import Connection, delete, event, func, inspect, literal_column, select, text, update

from flask_mailroom import Mail
from flask_mailroom.clock import FrozenClock
from flask_mailroom.compose.deferred import Intent, waiting_builders
from flask_mailroom.engine import claims, heartbeats, tally
from flask_mailroom.engine.outcomes import SENT_VALUES, UNCOUNTED
from flask_mailroom.engine.recorder import Outcome, OutcomeWriter, Statements, write_outcomes
from flask_mailroom.models.outbox import BULK, TRANSACTIONAL
from flask_mailroom.queue import OutboxMessage, announcement_counts, queue_status, retry_failed
from flask_mailroom.schema import downgrade, upgrade
from flask_mailroom.store import db

from support.outbox import queue_many

TABLE = OutboxMessage.__table__
WORKER = "test-worker"


def defer(app: Flask, mail: Mail, count: int, announcement_id: int | None, name: str = "news",
          start: int = 0) -> None:
    """Queue ``count`` deferred bulk copies of ``announcement_id`` (builder ``name``), committed."""
    mail.register_builder(name, lambda to, params: Message("News", recipients=[to], body="Hello",
                                                           sender="news@example.com"))
    with app.app_context():
        intents = [Intent(f"reader{n}@example.com", {"n": n}) for n in range(start, start + count)]
        mail.defer_many(name, intents, kind=BULK, subject="News", sender="news@example.com",
                        announcement_id=announcement_id)
        db.session.commit()


def exact(app: Flask) -> tuple[Counter[str], dict[int, Counter[str]], Counter[tuple[str, str]]]:
    """Counted from the outbox itself: per status, per announcement and status, per kind and status."""
    with app.app_context():
        rows = db.session.execute(select(TABLE.c.status, TABLE.c.announcement_id, TABLE.c.kind)).all()
        db.session.commit()
    per_status = Counter(status for status, _, _ in rows)
    per_announcement: dict[int, Counter[str]] = {}
    for status, aid, _ in rows:
        if aid is not None:
            per_announcement.setdefault(aid, Counter())[status] += 1
    return per_status, per_announcement, Counter((kind, status) for status, _, kind in rows)


def assert_figures_agree(app: Flask, clock: FrozenClock) -> None:
    """``flask mail status``'s figures, the lanes and the per-announcement counts equal an exact count."""
    per_status, per_announcement, per_kind = exact(app)
    with app.app_context():
        status = queue_status()
        assert {s: n for s, n in status.counts.items() if n} == dict(per_status)
        moment = clock.now()
        due = db.session.scalar(select(func.count()).select_from(TABLE).where(
            TABLE.c.status == "queued", TABLE.c.next_attempt_at <= moment))
        assert status.due_now == due
        lanes = {lane.name: lane for lane in heartbeats.lanes(db.session.connection(), moment)}
        for kind in (TRANSACTIONAL, BULK):
            assert (lanes[kind].queued, lanes[kind].in_flight) == (per_kind[kind, "queued"],
                                                                   per_kind[kind, "sending"])
        assert sum(lane.due for lane in lanes.values()) == due
        ids = [*per_announcement, 999]
        found = announcement_counts(ids)
        assert {aid: {s: n for s, n in counts.items() if n} for aid, counts in found.items()} == {
            **{aid: dict(counts) for aid, counts in per_announcement.items()}, 999: {}}
        assert status.unknown_builders == {
            name: n for name, n in waiting_builders(db.session()).items() if name == "gone"}
        db.session.commit()


def mixed_run(app: Flask, mail: Mail, clock: FrozenClock) -> None:
    """Claims, every kind of outcome, a retry, an expired claim recovered, deletions, an update of
    many rows at once: what changes statuses in a running system."""
    queue_many(app, 6)
    defer(app, mail, 30, announcement_id=7)
    defer(app, mail, 5, announcement_id=8, start=100)
    defer(app, mail, 3, announcement_id=None, name="gone", start=200)
    mail.builders.functions.pop("gone")  # a builder no longer registered
    with app.app_context():
        engine = db.engine
    moment = clock.now()
    with engine.connect() as connection:
        taken = claims.claim(connection, WORKER, moment, moment + timedelta(minutes=5), 25)
        sent, failed, retried = taken[:10], taken[10:13], taken[13:17]
        released, partly = taken[17:20], taken[20:22]
        outcomes = [Outcome(r.id, {**SENT_VALUES, "server_reply": f"250 ok {r.id}"}, stamp="sent_at")
                    for r in sent]
        outcomes += [Outcome(r.id, {"status": "failed", "last_error": f"550 no {r.id}"}, stamp="failed_at")
                     for r in failed]
        outcomes += [Outcome(r.id, {"status": "queued", "last_error": "421 later",
                                    "next_attempt_at": moment + timedelta(minutes=n + 1)})
                     for n, r in enumerate(retried)]
        outcomes += [Outcome(r.id, {"status": "queued"}, UNCOUNTED) for r in released]
        outcomes += [Outcome(r.id, {"status": "queued", "recipients": [f"later{r.id}@example.com"],
                                    "next_attempt_at": moment, "last_error": "451 one of two"})
                     for r in partly]
        write_outcomes(connection, Statements(WORKER), outcomes, moment)
        # Three rows stay claimed; a second claim expires and is recovered by the next one.
        claims.claim(connection, "dead-worker", moment, moment + timedelta(seconds=1), 2)
        later = moment + timedelta(seconds=30)
        claims.claim(connection, WORKER, later, later + timedelta(minutes=5), 1)
        with connection.begin():
            connection.execute(delete(TABLE).where(TABLE.c.id.in_([r.id for r in sent[:2]])))
            connection.execute(update(TABLE).where(TABLE.c.announcement_id == 8).values(kind=TRANSACTIONAL))
    with app.app_context():
        retry_failed([failed[0].id])


def test_the_figures_equal_an_exact_count_after_a_mixed_run_and_after_folding(
        app: Flask, mail: Mail, clock: FrozenClock) -> None:
    mixed_run(app, mail, clock)
    assert_figures_agree(app, clock)
    with app.app_context(), db.engine.connect() as connection:
        appended = connection.scalar(select(func.count()).select_from(tally.TABLE))
        connection.commit()
        tally.fold(connection)
        folded = connection.scalar(select(func.count()).select_from(tally.TABLE))
    assert folded < appended
    assert_figures_agree(app, clock)
    with app.app_context(), db.engine.connect() as connection:
        tally.fold(connection)  # folding again changes nothing
    assert_figures_agree(app, clock)


def test_a_drain_by_the_worker_keeps_the_figures_exact(
        app: Flask, mail: Mail, clock: FrozenClock, deliver: Callable[[], int]) -> None:
    queue_many(app, 4)
    defer(app, mail, 20, announcement_id=3)
    assert deliver() == 24
    assert_figures_agree(app, clock)
    with app.app_context():
        assert queue_status().counts["sent"] == 24


def test_outcomes_of_one_shape_are_one_statement_and_each_row_gets_its_own_values(
        app: Flask, mail: Mail, clock: FrozenClock) -> None:
    defer(app, mail, 40, announcement_id=1)
    moment = clock.now()
    with app.app_context(), db.engine.connect() as connection:
        taken = claims.claim(connection, WORKER, moment, moment + timedelta(minutes=5), 40)
        outcomes = [Outcome(r.id, {**SENT_VALUES, "server_reply": f"250 queued as {r.id}"}, stamp="sent_at")
                    for r in taken[:30]]
        outcomes += [Outcome(r.id, {"status": "queued", "recipients": [f"again{r.id}@example.com"],
                                    "throttles": r.id % 3,
                                    "next_attempt_at": moment + timedelta(seconds=r.id),
                                    "last_error": f"451 {r.id}"}, UNCOUNTED) for r in taken[30:]]
        updates = count_updates(connection, lambda: write_outcomes(connection, Statements(WORKER), outcomes,
                                                                     moment))
        rows = {r.id: r for r in connection.execute(select(TABLE)).all()}
    assert updates == 2, "one statement per shape (an executemany on SQLite)"
    for row in taken[:30]:
        found = rows[row.id]
        assert (found.status, found.server_reply, found.claimed_by) == (
            "sent", f"250 queued as {row.id}", None)
        assert found.sent_at is not None
    for row in taken[30:]:
        found = rows[row.id]
        assert (found.status, found.recipients, found.throttles, found.attempts, found.last_error) == (
            "queued", [f"again{row.id}@example.com"], row.id % 3, 0, f"451 {row.id}")
        assert found.next_attempt_at.replace(tzinfo=None) == (
            moment + timedelta(seconds=row.id)).replace(tzinfo=None)


def count_updates(connection: Connection, action: Callable[[], None]) -> int:
    """How many UPDATE statements (an executemany counting once) ``action`` sends on ``connection``."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE"):
            seen.append(statement)

    event.listen(connection, "before_cursor_execute", note)
    try:
        action()
    finally:
        event.remove(connection, "before_cursor_execute", note)
    return len(seen)


def test_a_batch_that_fails_halfway_is_written_again_whole_and_nothing_is_lost(
        app: Flask, mail: Mail, clock: FrozenClock) -> None:
    defer(app, mail, 12, announcement_id=1)
    moment = clock.now()
    with app.app_context():
        engine = db.engine
    with engine.connect() as connection:
        taken = claims.claim(connection, WORKER, moment, moment + timedelta(minutes=5), 12)
    failures = {"left": 1}

    def fail_second_shape(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "last_error" in statement and "server_reply" not in statement and failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("database went away halfway through the batch")

    event.listen(engine, "before_cursor_execute", fail_second_shape)
    written: list[int] = []
    try:
        writer = OutcomeWriter(engine, WORKER, clock.now, group=100, interval=0.01, on_written=written.extend)
        for row in taken[:6]:
            writer.put(Outcome(row.id, {**SENT_VALUES, "server_reply": f"250 {row.id}"}, stamp="sent_at"))
        for row in taken[6:]:
            writer.put(Outcome(row.id, {"status": "failed", "last_error": f"550 {row.id}"},
                               stamp="failed_at"))
        writer.close(timeout=30)
    finally:
        event.remove(engine, "before_cursor_execute", fail_second_shape)
    assert writer.failures == 1
    assert failures["left"] == 0
    assert sorted(written) == sorted(r.id for r in taken)
    with app.app_context():
        statuses = dict(db.session.execute(select(TABLE.c.id, TABLE.c.status)).all())
        assert queue_status().counts["sent"] == 6
    assert [statuses[r.id] for r in taken] == ["sent"] * 6 + ["failed"] * 6


def test_the_migration_counts_existing_rows_and_goes_down_and_up_on_both_databases(
        app: Flask, mail: Mail, clock: FrozenClock) -> None:
    queue_many(app, 3)
    defer(app, mail, 5, announcement_id=4)
    with app.app_context():
        engine = db.engine
        db.session.remove()
    assert downgrade(engine, "m0002_delivery_engine") == ("m0004_notify_kind", "m0002_delivery_engine")
    inspector = inspect(engine)
    assert "outbox_tally" not in inspector.get_table_names()
    assert "ix_outbox_waiting" not in {i["name"] for i in inspector.get_indexes("outbox")}
    with engine.begin() as connection:  # changes while the triggers are gone
        connection.execute(update(TABLE).where(TABLE.c.announcement_id == 4).values(status="sent"))
    assert upgrade(engine) == ("m0002_delivery_engine", "m0004_notify_kind")
    indexes = {i["name"] for i in inspect(engine).get_indexes("outbox")}
    assert {"ix_outbox_due", "ix_outbox_sending", "ix_outbox_waiting", "ix_outbox_sent_at"} <= indexes
    assert_figures_agree(app, clock)
    with app.app_context():
        assert queue_status().counts["sent"] == 5


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)  # plans are PostgreSQL's
def test_on_postgresql_the_claim_and_the_figures_use_the_partial_indexes(
        app: Flask, mail: Mail, clock: FrozenClock) -> None:
    defer(app, mail, 20_000, announcement_id=1)
    with app.app_context(), db.engine.connect() as connection:
        with connection.begin():
            connection.execute(update(TABLE).where(TABLE.c.id <= 200)
                               .values(status="sent", sent_at=clock.now()))
        connection.execute(text("ANALYZE outbox"))
        options = connection.scalar(text("SELECT reloptions FROM pg_class WHERE relname = 'outbox'"))
        assert {"fillfactor=85", "autovacuum_vacuum_scale_factor=0.02"} <= set(options)
        connection.commit()
        moment = clock.now()
        claim = claims.take_statement(moment, 32).compile(connection, compile_kwargs={"literal_binds": True})
        plan = "\n".join(connection.exec_driver_sql(f"EXPLAIN {claim}").scalars())
        assert "Index Scan using ix_outbox_due" in plan, plan
        oldest = select(func.min(TABLE.c.created_at)).where(TABLE.c.status.in_(
            [literal_column("'queued'"), literal_column("'sending'")]))
        plan = "\n".join(connection.exec_driver_sql(
            f"EXPLAIN {oldest.compile(connection, compile_kwargs={'literal_binds': True})}").scalars())
        assert "ix_outbox_waiting" in plan, plan
    with app.app_context():
        assert queue_status().counts == {**dict.fromkeys(queue_status().counts, 0), "queued": 19_800,
                                         "sent": 200}


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)  # SQLite has no notifications
def test_a_notification_of_new_mail_names_its_kinds(app: Flask, mail: Mail) -> None:
    import psycopg

    from flask_mailroom.engine.wakeup import CHANNEL, conninfo

    with app.app_context():
        url = db.engine.url
        db.session.remove()
    with psycopg.connect(conninfo(url), autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANNEL}")
        queue_many(app, 2)
        defer(app, mail, 3, announcement_id=1)
        payloads = [n.payload for n in listener.notifies(timeout=5, stop_after=2)]
    assert payloads == [TRANSACTIONAL, BULK]


def test_refreshing_the_statistics_after_a_large_insert(app: Flask, mail: Mail, db_backend: str) -> None:
    from flask_mailroom.queue import refresh_statistics

    defer(app, mail, 500, announcement_id=1)
    with app.app_context():
        assert refresh_statistics() is (db_backend == "postgresql")
        if db_backend == "postgresql":  # counted by ANALYZE, not estimated from an empty table
            assert db.session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'outbox'")) == 500
        db.session.remove()
