"""Bulk at constant size: the outbox bytes and the time an announcement with a 1 MB file costs.

Run: ``.venv/bin/python bench/fanout.py [--users 10000] [--attachment-mb 1] [--baseline-copies 300]
[--db postgresql|sqlite|auto]``.

It migrates a fresh database (PostgreSQL by default), adds the users, stores an announcement with
a file of random bytes, and measures in the same run:

- ``announcements.send``: copies queued per second, and outbox bytes per copy
  (``pg_total_relation_size('outbox')``: heap, TOAST and indexes; on SQLite the file's growth);
- baseline 1, the per-copy MIME path the outbox used before (one complete message per recipient,
  composed and stored) on ``--baseline-copies`` recipients;
- baseline 2, a bare SQLAlchemy executemany INSERT of as many rows as the fan-out wrote, shaped
  like them, with no per-row work (what the fan-out would cost without COPY);
- what the worker now pays instead: rendering one copy at delivery, against composing it.

The last line is ``fanout_rate=<copies/s> bytes_per_copy=<bytes>``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import time
from collections.abc import Callable

from common import postgres_reachable, scratch_database
from flask import Flask
from sqlalchemy import insert, select, text

FAST_HASH = "scrypt:1024:8:1"
TARGET_BYTES = 4096
TARGET_RATE = 2000
RENDERED = 20


def make_app(url: str) -> Flask:
    """A production-configured application on the scratch database."""
    from mailroom import create_app

    return create_app({
        "MAILROOM_ENV": "production", "SECRET_KEY": secrets.token_urlsafe(48),
        "SQLALCHEMY_DATABASE_URI": url, "SERVER_NAME": "bench.mailroom.test",
        "PREFERRED_URL_SCHEME": "https", "REDIS_URL": None, "MAIL_SERVER": "127.0.0.1",
        "MAIL_WORKER_INPROCESS": False, "PASSWORD_HASH_METHOD": FAST_HASH,
        "MAIL_DEFAULT_SENDER": "Mailroom <noreply@bench.mailroom.test>",
        "RATELIMIT_STORAGE_URI": "memory://",
    })


def migrate_and_fill(app: Flask, count: int) -> None:
    """Apply the migrations and add ``count`` confirmed, subscribed users."""
    from flask_migrate import upgrade

    from mailroom.extensions import db, mail
    from mailroom.models import User
    from mailroom.services.passwords import hash_password
    from mailroom.state import now

    with app.app_context():
        upgrade()
        mail.upgrade()  # the mail extension's own history (the delivery engine's columns)
        password_hash = hash_password("bench password 1234")
        rows = [{"username": f"reader{i}", "username_key": f"reader{i}",
                 "email": f"reader{i}@example.com", "email_key": f"reader{i}@example.com",
                 "password_hash": password_hash, "email_confirmed": True, "created_at": now(),
                 "is_admin": False, "subscribed": True,
                 "unsubscribe_token": secrets.token_urlsafe(24)} for i in range(count)]
        db.session.execute(insert(User), rows)
        db.session.commit()


def outbox_bytes() -> int:
    """What the outbox occupies now: heap, TOAST and indexes (SQLite: the whole file)."""
    from mailroom.extensions import db

    if db.engine.dialect.name == "postgresql":
        return int(db.session.scalar(text("SELECT pg_total_relation_size('outbox')")) or 0)
    path = db.engine.url.database or ""
    db.session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    return os.path.getsize(path)


def attachment_bytes() -> int:
    """What the stored files occupy (PostgreSQL), to show they are there once."""
    from mailroom.extensions import db

    if db.engine.dialect.name != "postgresql":
        return 0
    return int(db.session.scalar(text("SELECT pg_total_relation_size('announcement_attachments')")) or 0)


def empty_outbox() -> None:
    """Remove every outbox row, so the next measurement starts from an empty table."""
    from mailroom.extensions import db

    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("TRUNCATE outbox RESTART IDENTITY"))
    else:
        db.session.execute(text("DELETE FROM outbox"))
        db.session.commit()
        db.session.execute(text("VACUUM"))
    db.session.commit()


def measured(action: Callable[[], int]) -> tuple[int, float, int]:
    """Run ``action`` on an empty outbox: (rows it wrote, seconds, outbox bytes it added)."""
    empty_outbox()
    before = outbox_bytes()
    started = time.perf_counter()
    rows = action()
    seconds = time.perf_counter() - started
    return rows, seconds, outbox_bytes() - before


def old_fan_out(announcement_id: int, limit: int) -> int:
    """The per-copy MIME path: compose and store a complete message per recipient, 500 a commit."""
    from flask_mailroom.compose.outbox import queue
    from flask_mailroom.queue import BULK

    from mailroom.extensions import db
    from mailroom.services import announcements as a

    content = a.content_of(a.get(announcement_id))
    recipients = a._recipients_after(0, limit)
    for index, recipient in enumerate(recipients, 1):
        queue(a.personalised(content, recipient), template=a.TEMPLATE, kind=BULK,
              dedupe_key=a.dedupe_key(announcement_id, recipient.id), announcement_id=announcement_id)
        if index % 500 == 0:
            db.session.commit()
    db.session.commit()
    return len(recipients)


def bare_insert(announcement_id: int, count: int) -> Callable[[], int]:
    """Baseline 2: the same number of rows, shaped like the fan-out's, one executemany per 1,000."""
    from email.utils import make_msgid

    from mailroom.extensions import db
    from mailroom.models import OutboxMessage
    from mailroom.state import now

    moment = now()
    rows = [{"message_id": make_msgid(domain="bench.mailroom.test"), "kind": "bulk", "priority": 100,
             "status": "queued", "template": "announcement", "subject": "Quarterly report",
             "sender": "noreply@bench.mailroom.test", "recipients": [f"reader{i}@example.com"],
             "raw": b"", "attempts": 0, "max_attempts": 8, "next_attempt_at": moment,
             "created_at": moment, "announcement_id": announcement_id,
             "dedupe_key": f"announcement:{announcement_id}:user:{i + 1}",
             "meta": {"deferred": "announcement", "date": int(moment.timestamp()),
                      "params": {"announcement": announcement_id, "user": i + 1,
                                 "name": f"reader{i}", "token": secrets.token_urlsafe(24)}}}
            for i in range(count)]

    def run() -> int:
        for start in range(0, len(rows), 1000):
            db.session.execute(insert(OutboxMessage), rows[start:start + 1000])
            db.session.commit()
        return len(rows)
    return run


def render_cost(announcement_id: int) -> tuple[float, float]:
    """Milliseconds per copy: rendering queued rows as the worker does, and composing them anew."""
    from flask_mailroom.compose import deferred
    from flask_mailroom.compose.outbox import finished_bytes
    from flask_mailroom.models.outbox import COLUMNS, Claimed

    from mailroom.extensions import db
    from mailroom.models import OutboxMessage
    from mailroom.services import announcements as a

    rows = [Claimed(*row) for row in db.session.execute(
        select(*COLUMNS).where(OutboxMessage.announcement_id == announcement_id).limit(RENDERED))]
    deferred.materialize(rows[0], "bench")  # loads the announcement into the worker's cache
    started = time.perf_counter()
    for row in rows:
        deferred.materialize(row, "bench")
    rendered = (time.perf_counter() - started) / len(rows)
    content = a.content_of(a.get(announcement_id))
    recipients = a._recipients_after(0, len(rows))
    started = time.perf_counter()
    for recipient in recipients:
        finished_bytes(a.personalised(content, recipient))
    composed = (time.perf_counter() - started) / len(recipients)
    return rendered * 1000, composed * 1000


def run(users: int, megabytes: float, baseline_copies: int, kind: str) -> str:
    """The whole measurement; returns the last line."""
    from flask_mailroom.compose.outbox import Attachment

    from mailroom.extensions import db
    from mailroom.services import announcements

    with scratch_database(kind) as url:
        app = make_app(url)
        migrate_and_fill(app, users)
        with app.app_context():
            blob = os.urandom(int(megabytes * 1024 * 1024))
            files = [Attachment("quarterly-report.pdf", "application/pdf", blob)]
            aid = announcements.create("Quarterly report", "The report is attached.",
                                       markdown="The **report** is attached.", attachments=files).id
            print(f"database={kind} users={users} attachment={len(blob):,} bytes "
                  f"(stored once: announcement_attachments is {attachment_bytes():,} bytes)")
            old_rows, old_s, old_bytes = measured(lambda: old_fan_out(aid, baseline_copies))
            print(f"baseline 1, per-copy MIME (same run): {old_rows} copies in {old_s:.2f} s = "
                  f"{old_rows / old_s:,.0f} copies/s, {old_bytes / old_rows:,.0f} outbox bytes per copy")
            new_rows, new_s, new_bytes = measured(lambda: announcements.send(aid).queued)
            new_rate, per_copy = new_rows / new_s, new_bytes / new_rows
            print(f"announcements.send: {new_rows} copies in {new_s:.2f} s = {new_rate:,.0f} copies/s, "
                  f"{per_copy:,.0f} outbox bytes per copy")
            rendered_ms, composed_ms = render_cost(aid)
            bare_rows, bare_s, bare_bytes = measured(bare_insert(aid, new_rows))
            print(f"baseline 2, bare SQLAlchemy executemany INSERT of {bare_rows} such rows (same run): "
                  f"{bare_rows / bare_s:,.0f} rows/s, {bare_bytes / bare_rows:,.0f} bytes per row")
            print(f"ratios: copies/s new/per-copy-MIME = {new_rate / (old_rows / old_s):,.0f}x; "
                  f"bytes per copy per-copy-MIME/new = {(old_bytes / old_rows) / per_copy:,.0f}x; "
                  f"new/bare INSERT rate = {new_rate / (bare_rows / bare_s):.2f}")
            print(f"at delivery the worker renders a copy in {rendered_ms:.1f} ms "
                  f"(composing one from scratch: {composed_ms:.1f} ms)")
            print(f"outbox bytes per copy <= {TARGET_BYTES}: "
                  f"{'yes' if per_copy <= TARGET_BYTES else 'NO'} ({per_copy:,.0f}); "
                  f"fan-out >= {TARGET_RATE} copies/s: {'yes' if new_rate >= TARGET_RATE else 'NO'} "
                  f"({new_rate:,.0f})")
            db.session.remove()
            db.engine.dispose()
    return f"fanout_rate={new_rate:.0f} bytes_per_copy={per_copy:.0f}"


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--attachment-mb", type=float, default=1.0)
    parser.add_argument("--baseline-copies", type=int, default=300)
    parser.add_argument("--db", choices=["auto", "sqlite", "postgresql"], default="postgresql")
    options = parser.parse_args()
    kind = options.db if options.db != "auto" else ("postgresql" if postgres_reachable() else "sqlite")
    print(run(options.users, options.attachment_mb, options.baseline_copies, kind))


if __name__ == "__main__":
    main()
