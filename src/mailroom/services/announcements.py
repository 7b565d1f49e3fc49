"""Announcements' fan-out: one personalised copy per eligible user, resumable, in the background too.

Each other job has its own module, re-exported here so ``announcements.<name>`` keeps working:
``announcement_text`` (limits, checks, Markdown), ``announcement_drafting`` (storing, finding),
``announcement_audience`` (who receives, unsubscribing), ``announcement_copies`` (one reader's
copy, previews) and ``announcement_status`` (delivery counts, summaries).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from flask import Flask, current_app
from flask_mailroom.compose import Intent, bare_address
from flask_mailroom.queue import BULK, OutboxMessage, refresh_statistics
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from mailroom.extensions import db, mail
from mailroom.models import Announcement, User
from mailroom.services.announcement_audience import (
    Recipient,
    as_recipient,
    check_token,
    copy_key,
    copy_key_prefix,
    count_recipients,
    eligible,
    set_subscribed,
    usable,
)
from mailroom.services.announcement_copies import (
    TEMPLATE,
    Content,
    build_copy,
    content_of,
    personalised,
    register_builders,
    version_for,
)
from mailroom.services.announcement_drafting import (
    DRAFT,
    QUEUED,
    SENDING,
    create,
    files_of,
    find_unfinished,
    get,
)
from mailroom.services.announcement_status import Summary, delivery_counts, recent, summary
from mailroom.services.announcement_text import (
    BODY_MAX,
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS,
    SUBJECT_MAX,
    AnnouncementError,
    check_attachments,
    check_text,
    render_markdown,
    translated,
)
from mailroom.state import state

__all__ = [
    "BATCH_SIZE", "BODY_MAX", "DRAFT", "MAX_ATTACHMENTS", "MAX_ATTACHMENT_BYTES", "QUEUED", "SENDING",
    "SUBJECT_MAX", "TEMPLATE", "AnnouncementError", "Content", "FanOut", "Recipient", "Summary",
    "as_recipient", "build_copy", "check_attachments", "check_text", "check_token", "content_of",
    "count_recipients", "create", "dedupe_key", "delivery_counts", "files_of", "find_unfinished", "get",
    "personalised", "recent", "register_builders", "render_markdown", "running_fan_outs",
    "send", "send_in_background", "set_subscribed", "summary", "translated", "version_for",
]

log = logging.getLogger(__name__)

FAN_OUTS = "announcement_fan_outs"
BATCH_SIZE = 1000

ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class FanOut:
    """The outcome of one fan-out run."""

    announcement_id: int
    recipients: int
    queued: int
    already_queued: int
    not_eligible: int
    unusable: int = 0


# One rule for the key of a user's copy: the audience module's (it also counts who a send reaches).
dedupe_key = copy_key


def _recipients_after(last_id: int, limit: int) -> list[Recipient]:
    """The next ``limit`` eligible users after ``last_id``, in id order (plain rows: no ORM loading)."""
    query = (select(User.id, User.username, User.email, User.unsubscribe_token, User.language,
                    User.timezone)
             .where(eligible(), User.id > last_id).order_by(User.id).limit(limit))
    return [Recipient(*row) for row in db.session.connection().execute(query)]


def _existing_keys(keys: Sequence[str]) -> set[str]:
    """The dedupe keys among ``keys`` that already have an outbox row."""
    found = db.session.scalars(select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(keys)))
    return {key for key in found if key}


def _pending(announcement_id: int, batch: Sequence[Recipient]) -> list[Recipient]:
    """The recipients of a batch who have no copy yet (read in its own short transaction)."""
    existing = _existing_keys([dedupe_key(announcement_id, r.id) for r in batch])
    db.session.commit()
    return [r for r in batch if dedupe_key(announcement_id, r.id) not in existing]


def _usable(recipient: Recipient) -> bool:
    """The audience's rule for a recipient who can go into a copy; the others are logged (the shared
    parts, subject and files, were checked when the announcement was stored)."""
    if usable(recipient):
        return True
    log.warning("announcement copy: skipping user %s: unusable stored name, address or "
                "unsubscribe token", recipient.id)
    return False


def _intents_of(content: Content, recipients: Sequence[Recipient]) -> list[Intent]:
    """The outbox rows of the copies: only what is personal; the worker renders the rest."""
    key = copy_key_prefix(content.id)
    return [Intent(r.email, {"announcement": content.id, "user": r.id, "name": r.username,
                             "token": r.unsubscribe_token, "lang": r.language or "", "tz": r.timezone or ""},
                   f"{key}{r.id}") for r in recipients]


def _copies_exist(announcement_id: int) -> bool:
    """Whether any copy of the announcement is in the outbox (a previous run queued some)."""
    found = db.session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.announcement_id == announcement_id, OutboxMessage.dedupe_key.is_not(None)).limit(1))
    db.session.commit()
    return found is not None


def _intents(content: Content, batch: Sequence[Recipient], first_run: bool) -> tuple[list[Intent], int]:
    """The copies a batch still lacks (on a first run nobody has one yet, so nothing is looked
    up), and how many recipients could not be used; ends its read transaction."""
    pending = list(batch) if first_run else _pending(content.id, batch)
    intents = _intents_of(content, [r for r in pending if _usable(r)])
    return intents, len(pending) - len(intents)


def _write(content: Content, batch: Sequence[Recipient], intents: Sequence[Intent]) -> int:
    """Queue ``intents`` in one transaction; how many. If a concurrent run of the same
    announcement queued some of these first, keep theirs and queue the rest."""
    sender = bare_address(current_app.config["MAIL_DEFAULT_SENDER"])
    try:
        mail.defer_many(TEMPLATE, intents, kind=BULK, subject=content.subject, sender=sender,
                        announcement_id=content.id)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        again, _ = _intents(content, batch, first_run=False)
        mail.defer_many(TEMPLATE, again, kind=BULK, subject=content.subject, sender=sender,
                        announcement_id=content.id)
        db.session.commit()
        return len(again)
    return len(intents)


def _queue_batch(content: Content, batch: Sequence[Recipient], *, first_run: bool = False) -> tuple[int, int]:
    """Queue the copies a batch still lacks in one transaction; (queued, unusable)."""
    intents, unusable = _intents(content, batch, first_run)
    return _write(content, batch, intents), unusable


def _write_in_context(app: Flask, content: Content, batch: Sequence[Recipient],
                      intents: Sequence[Intent]) -> int:
    """``_write`` on a thread of its own, in an application context (and session) of its own."""
    with app.app_context():
        try:
            return _write(content, batch, intents)
        finally:
            db.session.remove()


def _start(announcement: Announcement) -> None:
    """Mark the announcement as sending and record how many it will reach."""
    announcement.status = SENDING
    announcement.recipients_total = count_recipients()
    db.session.commit()


def _finish(announcement: Announcement) -> None:
    """Mark the fan-out complete with the number of copies in the outbox, and refresh the outbox's
    statistics so that the pages watching the queue read it by its indexes at once."""
    refresh_statistics()
    announcement.queued_count = int(db.session.scalar(
        select(func.count()).select_from(OutboxMessage)
        .where(OutboxMessage.announcement_id == announcement.id,
               OutboxMessage.dedupe_key.is_not(None))) or 0)
    announcement.status = QUEUED
    db.session.commit()


@dataclass
class _Counts:
    """What a fan-out run has seen so far."""

    seen: int = 0
    queued: int = 0
    unusable: int = 0


def _batches(batch_size: int) -> Iterator[list[Recipient]]:
    """The eligible users in id order, ``batch_size`` at a time, each read in its own transaction."""
    last_id = 0
    while batch := _recipients_after(last_id, batch_size):
        db.session.commit()
        yield batch
        last_id = batch[-1].id


def _fan_out(content: Content, batch_size: int, first_run: bool, progress: ProgressCallback | None,
             counts: _Counts) -> None:
    """Queue every batch, one transaction each. On PostgreSQL a thread writes each batch while
    this one reads and prepares the next (the database's work and Python's overlap); the next
    batch is handed over only after the last one is committed and reported, so a crash leaves
    exactly the batches reported (and a run again queues the rest)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    threaded = db.engine.dialect.name == "postgresql"
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fan-out") as writer:
        in_flight: tuple[Future[int], int] | None = None
        for batch in _batches(batch_size):
            intents, unusable = _intents(content, batch, first_run)
            if in_flight is not None:
                _settle(*in_flight, progress, counts)
            counts.seen, counts.unusable = counts.seen + len(batch), counts.unusable + unusable
            in_flight = (writer.submit(_write_in_context, app, content, batch, intents)
                         if threaded else _done(_write(content, batch, intents)), len(batch))
        if in_flight is not None:
            _settle(*in_flight, progress, counts)


def _done(value: int) -> Future[int]:
    """A future that already holds ``value`` (the batch was written on this thread)."""
    future: Future[int] = Future()
    future.set_result(value)
    return future


def _settle(written: Future[int], size: int, progress: ProgressCallback | None, counts: _Counts) -> None:
    """Wait for a batch's write (its error is raised here), count it and report it."""
    counts.queued += written.result()
    if progress is not None:
        progress(size)


def send(announcement_id: int, *, batch_size: int = BATCH_SIZE,
         progress: ProgressCallback | None = None) -> FanOut:
    """Queue one personalised copy per eligible user, in batches; safe to run again after a crash."""
    announcement = get(announcement_id)
    content = content_of(announcement, with_files=False)
    _start(announcement)
    first_run = not _copies_exist(announcement.id)
    counts = _Counts()
    _fan_out(content, batch_size, first_run, progress, counts)
    _finish(announcement)
    users = int(db.session.scalar(select(func.count()).select_from(User)) or 0)
    db.session.commit()
    return FanOut(announcement.id, counts.seen, counts.queued, counts.seen - counts.queued - counts.unusable,
                  max(0, users - counts.seen), counts.unusable)


def _fan_out_thread(app: Flask, announcement_id: int) -> None:
    """Run a fan-out in its own application context; a failure leaves it resumable ('sending')."""
    with app.app_context():
        try:
            send(announcement_id)
        except Exception:
            log.exception("fan-out of announcement %s stopped; sending it again resumes it",
                          announcement_id)
        finally:
            db.session.remove()


def running_fan_outs(app: Flask) -> dict[int, threading.Thread]:
    """The background fan-outs this process has started, by announcement id."""
    found: dict[int, threading.Thread] = state(app).services.setdefault(FAN_OUTS, {})
    return found


def send_in_background(announcement_id: int) -> bool:
    """Mark the announcement as sending and fan it out in a thread; False if one already runs."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    _start(get(announcement_id))
    with state(app).services.setdefault(FAN_OUTS + ".lock", threading.Lock()):
        running = running_fan_outs(app)
        if announcement_id in running and running[announcement_id].is_alive():
            return False
        thread = threading.Thread(target=_fan_out_thread, args=(app, announcement_id),
                                  name=f"announcement-{announcement_id}", daemon=True)
        running[announcement_id] = thread
        thread.start()
    return True
