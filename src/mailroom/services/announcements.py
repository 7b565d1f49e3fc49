"""Announcements' fan-out: one personalised copy per eligible user, resumable, in the background too.

Each other job has its own module, re-exported here so ``announcements.<name>`` keeps working:
``announcement_text`` (limits, checks, Markdown), ``announcement_drafting`` (storing, finding),
``announcement_audience`` (who receives, unsubscribing), ``announcement_copies`` (one reader's
copy, previews) and ``announcement_status`` (delivery counts, summaries).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flask import Flask, current_app
from flask_mailroom.compose import Intent, bare_address, check_header_value, split_address
from flask_mailroom.errors import MailError
from flask_mailroom.queue import BULK, OutboxMessage
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from mailroom.domain.errors import DomainError
from mailroom.extensions import db, mail
from mailroom.models import Announcement, User
from mailroom.services.announcement_audience import (
    TOKEN_SHAPE,
    Recipient,
    as_recipient,
    check_token,
    count_recipients,
    eligible,
    set_subscribed,
)
from mailroom.services.announcement_copies import (
    TEMPLATE,
    Content,
    build_copy,
    content_of,
    personalised,
    preview,
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
    "personalised", "preview", "recent", "register_builders", "render_markdown", "running_fan_outs",
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


def dedupe_key(announcement_id: int, user_id: int) -> str:
    """The key that lets each user hold at most one copy of an announcement in the outbox."""
    return f"announcement:{announcement_id}:user:{user_id}"


def _recipients_after(last_id: int, limit: int) -> list[Recipient]:
    """The next ``limit`` eligible users after ``last_id``, in id order."""
    query = (select(User.id, User.username, User.email, User.unsubscribe_token, User.language,
                    User.timezone)
             .where(eligible(), User.id > last_id).order_by(User.id).limit(limit))
    return [Recipient(*row) for row in db.session.execute(query)]


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
    """Whether the recipient's stored name, address and token can go into a copy (logged if not);
    the shared parts (subject, files) were checked when the announcement was stored."""
    try:
        check_header_value("To", recipient.username)
        check_header_value("To", recipient.email)
        split_address((recipient.username, recipient.email))
        if not TOKEN_SHAPE.fullmatch(recipient.unsubscribe_token):
            raise ValueError("unusable unsubscribe token")
    except (DomainError, MailError, ValueError) as error:
        log.warning("announcement copy: skipping user %s: %s", recipient.id, error)
        return False
    return True


def _intent(content: Content, recipient: Recipient) -> Intent:
    """The outbox row of one copy: only what is personal; the worker renders the rest."""
    params: dict[str, str | int] = {"announcement": content.id, "user": recipient.id,
                                    "name": recipient.username, "token": recipient.unsubscribe_token,
                                    "lang": recipient.language or "", "tz": recipient.timezone or ""}
    return Intent(recipient.email, params, dedupe_key(content.id, recipient.id))


def _copies_exist(announcement_id: int) -> bool:
    """Whether any copy of the announcement is in the outbox (a previous run queued some)."""
    found = db.session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.announcement_id == announcement_id, OutboxMessage.dedupe_key.is_not(None)).limit(1))
    db.session.commit()
    return found is not None


def _queue_batch(content: Content, batch: Sequence[Recipient], *, first_run: bool = False,
                 retried: bool = False) -> tuple[int, int]:
    """Queue the copies a batch still lacks in one transaction; (queued, unusable). On a first run
    nobody has a copy yet, so nothing is looked up unless a concurrent run got in first."""
    pending = list(batch) if first_run and not retried else _pending(content.id, batch)
    intents = [_intent(content, r) for r in pending if _usable(r)]
    sender = bare_address(current_app.config["MAIL_DEFAULT_SENDER"])
    try:
        mail.defer_many(TEMPLATE, intents, kind=BULK, subject=content.subject, sender=sender,
                            announcement_id=content.id)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if retried:
            raise
        # Another run of the same announcement queued some of these first: keep theirs.
        return _queue_batch(content, batch, retried=True)
    return len(intents), len(pending) - len(intents)


def _start(announcement: Announcement) -> None:
    """Mark the announcement as sending and record how many it will reach."""
    announcement.status = SENDING
    announcement.recipients_total = count_recipients()
    db.session.commit()


def _finish(announcement: Announcement) -> None:
    """Mark the fan-out complete with the number of copies in the outbox."""
    announcement.queued_count = int(db.session.scalar(
        select(func.count()).select_from(OutboxMessage)
        .where(OutboxMessage.announcement_id == announcement.id,
               OutboxMessage.dedupe_key.is_not(None))) or 0)
    announcement.status = QUEUED
    db.session.commit()


def send(announcement_id: int, *, batch_size: int = BATCH_SIZE,
         progress: ProgressCallback | None = None) -> FanOut:
    """Queue one personalised copy per eligible user, in batches; safe to run again after a crash."""
    announcement = get(announcement_id)
    content = content_of(announcement, with_files=False)
    _start(announcement)
    first_run = not _copies_exist(announcement.id)
    queued = unusable = seen = last_id = 0
    while batch := _recipients_after(last_id, batch_size):
        done, skipped = _queue_batch(content, batch, first_run=first_run)
        queued, unusable, seen = queued + done, unusable + skipped, seen + len(batch)
        last_id = batch[-1].id
        if progress is not None:
            progress(len(batch))
    _finish(announcement)
    users = int(db.session.scalar(select(func.count()).select_from(User)) or 0)
    db.session.commit()
    return FanOut(announcement.id, seen, queued, seen - queued - unusable, max(0, users - seen),
                  unusable)


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
