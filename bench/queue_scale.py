"""The outbox at scale: fan-out rate, status figures at a full queue, the claim's plan, a drain's cost.

Run: ``.venv/bin/python bench/queue_scale.py [--users 100000] [--drain 20000] [--batch 64]``
(PostgreSQL). It migrates a fresh database, adds the users with COPY, then measures in one run:

- ``announcements.send`` of a text-only announcement to every user: copies queued per second;
- at the full queue, in process: ``flask mail status``'s figures (``queue_status`` and
  ``engine_status``) and the admin dashboard's ``overview``, first call and median of five;
- ``EXPLAIN`` of the worker's claim, to show which index serves it;
- a drain of ``--drain`` copies by the engine's own claim and outcome statements (no SMTP, no
  rendering: the database's share of a copy), on one connection: statements per copy, copies/s in
  the first and last fifth, and the outbox's dead tuples afterwards (and, with
  ``--vacuum-wait S``, once autovacuum has visited it, or after S seconds). With
  ``--compare-vacuum N`` it drains twice, as many copies each (a second announcement refills the
  queue): without, then with the worker's own vacuum hook (``retention.vacuum_if_due``,
  MAIL_VACUUM_DEAD_ROWS=N, checked every 5 s) called after each batch as a heartbeat would, for a
  server where autovacuum is off.

The last line is ``fanout_rate=... status_ms=... dashboard_ms=... drain_rate=...
statements_per_copy=... last/first=... dead_tuples=...``.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from common import scratch_database
from fanout import make_app
from flask import Flask
from sqlalchemy import event, text


def fill_users(app: Flask, count: int) -> None:
    """Apply the migrations and add ``count`` confirmed, subscribed users with COPY."""
    from flask_migrate import upgrade

    from mailroom.extensions import db, mail
    from mailroom.services.passwords import hash_password
    from mailroom.state import now

    with app.app_context():
        upgrade()
        mail.upgrade()
        password_hash = hash_password("bench password 1234")
        created = now().replace(tzinfo=None)
        columns = ("username", "username_key", "email", "email_key", "password_hash",
                   "email_confirmed", "created_at", "is_admin", "subscribed", "unsubscribe_token")
        driver = db.session.connection().connection.driver_connection
        statement = f"COPY users ({', '.join(columns)}) FROM STDIN"
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for i in range(count):
                copy.write_row((f"reader{i}", f"reader{i}", f"reader{i}@example.com",
                                f"reader{i}@example.com", password_hash, True, created, False, True,
                                secrets.token_urlsafe(24)))
        db.session.commit()
        db.session.execute(text("ANALYZE users"))
        db.session.commit()


def timed(action: Callable[[], Any], repeat: int = 5) -> tuple[float, float]:
    """Milliseconds of the first call and the median of ``repeat`` more."""
    started = time.perf_counter()
    action()
    first = (time.perf_counter() - started) * 1000
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        runs.append((time.perf_counter() - started) * 1000)
    return first, statistics.median(runs)


def figures() -> dict[str, float]:
    """Time the status command's and the dashboard's figures at the full queue; the medians."""
    from flask_mailroom import queue

    from mailroom.services import dashboard

    medians = {}
    for name, action in (("queue_status", queue.queue_status), ("engine_status", queue.engine_status),
                         ("dashboard.overview", dashboard.overview)):
        first, medians[name] = timed(action)
        print(f"{name}: first {first:.1f} ms, median {medians[name]:.1f} ms")
    return medians


def explain_claim() -> None:
    """The plan of the worker's claim (rolled back)."""
    from flask_mailroom.engine import claims

    from mailroom.extensions import db
    from mailroom.state import now

    moment = now()
    with db.engine.connect() as connection:
        statement = claims.take_statement(moment, 32, False) if hasattr(claims, "take_statement") else None
        if statement is None:
            print("claim plan: (take_statement not available)")
            return
        compiled = statement.compile(connection, compile_kwargs={"literal_binds": True})
        plan = connection.exec_driver_sql(f"EXPLAIN {compiled}").scalars().all()
        connection.rollback()
    print("claim plan:\n  " + "\n  ".join(plan))


def drain(count: int, batch: int, app: Flask | None = None) -> tuple[float, float, float, int]:
    """Claim and record ``count`` copies as the worker's statements do; statements, rates, dead tuples
    (``app``: its worker's vacuum hook is called after each batch, as a heartbeat would)."""
    from flask_mailroom.deliverability import suppression
    from flask_mailroom.engine import claims, recorder, retention
    from flask_mailroom.engine.outcomes import SENT_VALUES

    from mailroom.extensions import db
    from mailroom.state import now

    statements = [0]

    def count_statement(*_: Any) -> None:
        statements[0] += 1

    with db.engine.connect() as connection:
        index_bytes = int(connection.exec_driver_sql("SELECT pg_indexes_size('outbox')").scalar() or 0)
    event.listen(db.engine, "before_cursor_execute", count_statement)
    try:
        from flask_mailroom.engine.tally import fold
    except ImportError:  # before the tally existed (a baseline run)
        fold = None
    writer = recorder.Statements("bench-worker")
    done, marks, folded = 0, [], 0.0
    started = time.perf_counter()
    with db.engine.connect() as connection:
        recorder.prepare(connection)
        while done < count:
            moment = now()
            rows = claims.claim(connection, "bench-worker", moment, moment + timedelta(minutes=5),
                                min(batch, count - done))
            if not rows:
                break
            outcomes = [recorder.Outcome(row.id, {**SENT_VALUES, "server_reply": f"250 2.0.0 Ok: {row.id}"},
                                         suppression.drop_account_body(), stamp="sent_at") for row in rows]
            recorder.write_outcomes(connection, writer, outcomes, now())
            if fold is not None and time.perf_counter() - folded >= 1.0:
                folded = time.perf_counter()
                fold(connection)  # as the worker's outcome thread does
            if app is not None:
                retention.vacuum_if_due(app)
            done += len(rows)
            marks.append((done, time.perf_counter() - started))
        recorder.unprepare(connection)
    event.remove(db.engine, "before_cursor_execute", count_statement)
    elapsed = time.perf_counter() - started
    fifth = max(1, count // 5)
    first = next(t for d, t in marks if d >= fifth)
    before_last = next(t for d, t in marks if d >= done - fifth)
    first_rate, last_rate = fifth / first, fifth / max(1e-9, elapsed - before_last)
    print(f"drain: {done} copies in {elapsed:.2f} s = {done / elapsed:,.0f} copies/s on one connection, "
          f"{statements[0] / max(done, 1):.3f} statements per copy; first fifth {first_rate:,.0f}/s, "
          f"last fifth {last_rate:,.0f}/s (ratio {last_rate / first_rate:.2f})")
    with db.engine.connect() as connection:
        connection.exec_driver_sql("SELECT pg_stat_force_next_flush()")
        connection.commit()
    time.sleep(1.0)
    with db.engine.connect() as connection:
        dead, live = connection.exec_driver_sql(
            "SELECT n_dead_tup, n_live_tup FROM pg_stat_user_tables WHERE relname = 'outbox'").one()
        after = int(connection.exec_driver_sql("SELECT pg_indexes_size('outbox')").scalar() or 0)
    grown = after - index_bytes
    print(f"outbox after the drain: {dead:,} dead tuples, {live:,} live; its indexes grew by "
          f"{grown / max(done, 1):,.0f} bytes per copy drained")
    return done / elapsed, statements[0] / max(done, 1), last_rate / first_rate, int(dead)


def settle(seconds: float) -> None:
    """Wait up to ``seconds`` for autovacuum to visit the outbox; its dead tuples then."""
    from mailroom.extensions import db

    query = ("SELECT n_dead_tup, last_autovacuum FROM pg_stat_user_tables WHERE relname = 'outbox'")
    deadline = time.monotonic() + seconds
    while True:
        with db.engine.connect() as connection:
            dead, vacuumed = connection.exec_driver_sql(query).one()
        if vacuumed is not None or time.monotonic() >= deadline:
            break
        time.sleep(5.0)
    print(f"outbox {seconds:.0f} s after the drain at most: {dead:,} dead tuples, "
          f"autovacuum {'ran' if vacuumed else 'did not run'}")


def compare_vacuum(app: Flask, aid: int, drained: int, batch: int, dead_rows: int) -> None:
    """Drain ``drained`` copies without the worker's vacuum hook, then, from the same start (the
    outbox emptied and the announcement fanned out again), with it; print both ratios of last to
    first fifth and the dead tuples each left."""
    from mailroom.extensions import db
    from mailroom.services import announcements

    app.config.update(MAIL_VACUUM_DEAD_ROWS=dead_rows, MAIL_VACUUM_INTERVAL=5)
    found = {}
    for hooked in (False, True):
        db.session.execute(text("TRUNCATE outbox RESTART IDENTITY"))
        db.session.commit()
        announcements.send(aid)
        db.session.execute(text("ANALYZE outbox"))
        db.session.commit()
        rate, _, ratio, dead = drain(drained, batch, app if hooked else None)
        found[hooked] = (rate, ratio, dead)
    print(f"vacuum hook (MAIL_VACUUM_DEAD_ROWS={dead_rows}): without it {found[False][0]:,.0f} copies/s, "
          f"last/first fifth {found[False][1]:.2f}, {found[False][2]:,} dead tuples after; with it "
          f"{found[True][0]:,.0f} copies/s, last/first fifth {found[True][1]:.2f}, "
          f"{found[True][2]:,} dead tuples")


def run(users: int, drained: int, batch: int, vacuum_wait: float = 0.0, compare: int = 0) -> str:
    """The whole measurement; returns the result line (``compare``: MAIL_VACUUM_DEAD_ROWS for
    ``compare_vacuum``, instead of the usual drain and figures)."""
    from mailroom.extensions import db
    from mailroom.services import announcements

    with scratch_database("postgresql") as url:
        app = make_app(url)
        fill_users(app, users)
        with app.app_context():
            aid = announcements.create("Quarterly report", "The report is out.",
                                       markdown="The **report** is out.").id
            started = time.perf_counter()
            queued = announcements.send(aid).queued
            seconds = time.perf_counter() - started
            print(f"fan-out: {queued:,} copies in {seconds:.2f} s = {queued / seconds:,.0f} copies/s")
            db.session.execute(text("ANALYZE outbox"))
            db.session.commit()
            full = figures()
            explain_claim()
            if compare:
                compare_vacuum(app, aid, drained, batch, compare)
                db.session.remove()
                db.engine.dispose()
                return "compared"
            rate, per_copy, ratio, dead = drain(drained, batch)
            if vacuum_wait:
                settle(vacuum_wait)
            figures()
            db.session.remove()
            db.engine.dispose()
    status_ms = full["queue_status"] + full["engine_status"]
    return (f"fanout_rate={queued / seconds:.0f} status_ms={status_ms:.1f} "
            f"dashboard_ms={full['dashboard.overview']:.1f} drain_rate={rate:.0f} "
            f"statements_per_copy={per_copy:.3f} last/first={ratio:.2f} dead_tuples={dead}")


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--drain", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--vacuum-wait", type=float, default=0.0,
                        help="seconds to wait after the drain for autovacuum to visit the outbox")
    parser.add_argument("--compare-vacuum", type=int, default=0, metavar="DEAD_ROWS",
                        help="drain twice, without and with the worker's vacuum hook at this threshold")
    options = parser.parse_args()
    print(run(options.users, options.drain, options.batch, options.vacuum_wait, options.compare_vacuum))


if __name__ == "__main__":
    main()
