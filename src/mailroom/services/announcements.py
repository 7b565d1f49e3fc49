"""Announcements: write one, preview it to oneself, fan it out to every confirmed, subscribed user."""

from __future__ import annotations

import hmac
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from flask import Flask, current_app
from flask_babel import format_number
from flask_mail import Message
from flask_mailroom import HeaderInjection, Mail
from flask_mailroom.compose import (
    Attachment,
    Envelope,
    Intent,
    bare_address,
    check_header_value,
    compose,
    split_address,
    stream_headers,
)
from flask_mailroom.queue import BULK, OutboxMessage
from markdown_it import MarkdownIt
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError

from mailroom.domain.errors import DomainError, TokenInvalid
from mailroom.emails import queue
from mailroom.extensions import db, mail
from mailroom.i18n import _
from mailroom.models import Announcement, AnnouncementAttachment, User
from mailroom.state import now, state
from mailroom.urls import external_url

log = logging.getLogger(__name__)

TEMPLATE = "announcement"
FAN_OUTS = "announcement_fan_outs"
CONTENTS = "announcement_contents"
# Announcements whose content a worker process keeps in memory (they never change once stored).
CONTENTS_KEPT = 8
BATCH_SIZE = 1000
SUBJECT_MAX = 200
BODY_MAX = 100_000
MAX_ATTACHMENTS = 10
# Files are stored once per announcement, but each delivery still carries them: keep them small.
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
# What new_unsubscribe_token makes (URL-safe base64), bounded by the column's width.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")

DRAFT = "draft"
SENDING = "sending"
QUEUED = "queued"


class AnnouncementError(Exception):
    """An announcement was refused; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Recipient:
    """What personalising one copy needs to know about its reader."""

    id: int
    username: str
    email: str
    unsubscribe_token: str
    language: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class FanOut:
    """The outcome of one fan-out run."""

    announcement_id: int
    recipients: int
    queued: int
    already_queued: int
    not_eligible: int
    unusable: int = 0


@dataclass(frozen=True)
class Summary:
    """An announcement as one reader would get it, with how far its delivery has come."""

    announcement: Announcement
    eligible_now: int
    counts: dict[str, int]
    text: str
    html: str | None


@dataclass(frozen=True)
class Content:
    """What every copy of an announcement shares, read once from the database."""

    id: int
    subject: str
    text_body: str
    html_body: str | None
    files: tuple[Attachment, ...]
    greeting: bool = True
    # Versions in other languages, by locale ({"zh_Hant": {"subject", "text_body", "html_body", ...}}).
    versions: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Version:
    """An announcement's subject and bodies in one language."""

    subject: str
    text_body: str
    html_body: str | None


ProgressCallback = Callable[[int], None]


@cache
def _markdown() -> MarkdownIt:
    """CommonMark with tables and strikethrough; raw HTML is shown as text, never passed through."""
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def render_markdown(source: str) -> str:
    """Markdown to an HTML fragment, with any raw HTML in the source escaped."""
    return str(_markdown().render(source))


def eligible() -> ColumnElement[bool]:
    """Who receives announcements: confirmed addresses that did not unsubscribe."""
    return User.email_confirmed.is_(True) & User.subscribed.is_(True)


def count_recipients() -> int:
    """How many users an announcement sent now would reach."""
    return int(db.session.scalar(select(func.count()).select_from(User).where(eligible())) or 0)


def dedupe_key(announcement_id: int, user_id: int) -> str:
    """The key that lets each user hold at most one copy of an announcement in the outbox."""
    return f"announcement:{announcement_id}:user:{user_id}"


def check_text(subject: str, text_body: str, html_body: str | None) -> None:
    """Refuse an empty or overlong subject or body, and line breaks in the subject."""
    if not subject.strip() or len(subject) > SUBJECT_MAX:
        raise AnnouncementError("subject", _("Write a subject of 1 to %(max)d characters.",
                                             max=SUBJECT_MAX))
    try:
        check_header_value("Subject", subject)
    except HeaderInjection:
        raise AnnouncementError("subject", _("The subject must be a single line.")) from None
    if not text_body.strip() or len(text_body) > BODY_MAX:
        raise AnnouncementError("text_body", _("Write a text body of 1 to %(max)s characters.",
                                                    max=format_number(BODY_MAX)))
    if html_body is not None and len(html_body) > BODY_MAX:
        raise AnnouncementError("html_body", _("Use at most %(max)s characters.",
                                                    max=format_number(BODY_MAX)))


def check_attachments(attachments: Sequence[Attachment]) -> None:
    """Refuse too many files, too many bytes, and unusable file names."""
    if len(attachments) > MAX_ATTACHMENTS:
        raise AnnouncementError("attachments", _("Attach at most %(max)d files.", max=MAX_ATTACHMENTS))
    if sum(len(a.data) for a in attachments) > MAX_ATTACHMENT_BYTES:
        limit = MAX_ATTACHMENT_BYTES // (1024 * 1024)
        raise AnnouncementError("attachments", _("Attachments may total at most %(max)d MB.",
                                                 max=limit))
    for item in attachments:
        bad = not item.filename.strip() or len(item.filename) > 255 or "/" in item.filename
        try:
            check_header_value("file name", item.filename)
        except HeaderInjection:
            bad = True
        if bad:
            raise AnnouncementError("attachments", _("Unusable file name: %(name)s.",
                                                     name=repr(item.filename)))


def translated(language: str, subject: str, text_body: str, markdown: str | None = None) -> dict[str, Any]:
    """A checked version of an announcement in another language, as ``create(versions=...)`` takes it."""
    html_body = render_markdown(markdown) if markdown and markdown.strip() else None
    try:
        check_text(subject, text_body, html_body)
    except AnnouncementError as error:
        raise AnnouncementError(f"{error.field}_{language.lower()}", error.message) from None
    return {"subject": subject.strip(), "text_body": text_body, "html_body": html_body,
            "markdown_body": markdown if html_body else None}


def create(subject: str, text_body: str, *, markdown: str | None = None, html: str | None = None,
           attachments: Sequence[Attachment] = (), author_id: int | None = None,
           greeting: bool = True, versions: dict[str, dict[str, Any]] | None = None) -> Announcement:
    """Store a draft; ``markdown`` is rendered (raw HTML escaped), ``html`` is the operator's own;
    ``greeting`` starts each copy with "Hello <name>,"; ``versions`` are the bodies in other languages."""
    if markdown is not None and html is not None:
        raise ValueError("give markdown or html, not both")
    html_body = render_markdown(markdown) if markdown and markdown.strip() else (html or None)
    check_text(subject, text_body, html_body)
    check_attachments(attachments)
    announcement = Announcement(subject=subject.strip(), text_body=text_body, html_body=html_body,
                                versions=dict(versions or {}),
                                created_by_id=author_id, created_at=now(), status=DRAFT,
                                recipients_total=0, queued_count=0, greeting=greeting,
                                markdown_body=markdown if markdown and markdown.strip() else None)
    announcement.attachments = [AnnouncementAttachment(filename=a.filename, content_type=a.content_type,
                                                       data=a.data) for a in attachments]
    db.session.add(announcement)
    db.session.commit()
    return announcement


def get(announcement_id: int) -> Announcement:
    """The announcement with this id, or LookupError."""
    announcement = db.session.get(Announcement, announcement_id)
    if announcement is None:
        raise LookupError(f"no announcement {announcement_id}")
    return announcement


def files_of(announcement: Announcement) -> list[Attachment]:
    """The announcement's stored files as attachments for composing."""
    return [Attachment(a.filename, a.content_type, a.data) for a in announcement.attachments]


def content_of(announcement: Announcement, *, with_files: bool = True) -> Content:
    """The shared part of every copy of ``announcement``."""
    files = tuple(files_of(announcement)) if with_files else ()
    return Content(announcement.id, announcement.subject, announcement.text_body,
                   announcement.html_body, files, announcement.greeting, dict(announcement.versions or {}))


def version_for(content: Content, language: str | None) -> Version:
    """The subject and bodies written in the reader's language, else the main ones."""
    found = content.versions.get(language or "")
    if isinstance(found, dict) and found.get("subject") and found.get("text_body"):
        return Version(str(found["subject"]), str(found["text_body"]), found.get("html_body") or None)
    return Version(content.subject, content.text_body, content.html_body)


def _envelope(content: Content, recipient: Recipient, link: str, subject: str) -> Envelope:
    """To whom, about what, with the bulk headers and the files."""
    headers = stream_headers(BULK, f"announcement-{content.id}", link)
    return Envelope(subject=subject, recipients=[(recipient.username, recipient.email)],
                    attachments=content.files, extra_headers=headers)


def personalised(content: Content, recipient: Recipient, subject_prefix: str = "") -> Message:
    """One recipient's copy in their language: their name, their address, their own one-click
    unsubscribe link."""
    link = external_url("unsubscribe.confirm", token=recipient.unsubscribe_token)
    version = version_for(content, recipient.language)
    return compose(TEMPLATE, _envelope(content, recipient, link, subject_prefix + version.subject),
                   locale=recipient.language, timezone=recipient.timezone,
                   subject=version.subject, username=recipient.username, email=recipient.email,
                   text_body=version.text_body, html_body=version.html_body, unsubscribe_url=link,
                   greeting=content.greeting)


def _cached_content(announcement_id: int) -> Content | None:
    """The announcement's content, read from the database once per process (it never changes)."""
    kept: dict[int, Content] = state().services.setdefault(CONTENTS, {})
    found = kept.get(announcement_id)
    if found is None:
        announcement = db.session.get(Announcement, announcement_id)
        if announcement is None:
            return None
        found = content_of(announcement)
        while len(kept) >= CONTENTS_KEPT:
            kept.pop(next(iter(kept)))
        kept[announcement_id] = found
    return found


def _still_subscribed(user_id: int) -> bool:
    """Whether the user still exists and still wants announcements."""
    return bool(db.session.scalar(select(User.subscribed).where(User.id == user_id)))


def build_copy(address: str, params: Mapping[str, Any]) -> Message | None:
    """In the worker, at every attempt: one recipient's copy from what its outbox row keeps
    (name, unsubscribe token) and the announcement stored once; None (skipped) when the
    announcement is gone or the reader unsubscribed since the fan-out."""
    content = _cached_content(int(params["announcement"]))
    if content is None or not _still_subscribed(int(params["user"])):
        return None
    recipient = Recipient(int(params["user"]), str(params["name"]), address, str(params["token"]),
                          str(params.get("lang") or "") or None, str(params.get("tz") or "") or None)
    return personalised(content, recipient)


def register_builders(extension: Mail) -> None:
    """Let the worker render announcement copies (called by the application factory)."""
    extension.register_builder(TEMPLATE, build_copy, each_attempt=True)


def as_recipient(user: User) -> Recipient:
    """The personalisation fields of a user."""
    return Recipient(user.id, user.username, user.email, user.unsubscribe_token, user.language,
                     user.timezone)


def preview(announcement_id: int, user: User) -> OutboxMessage:
    """Queue one copy to ``user`` alone, marked as a preview; it never counts as the real send."""
    announcement = get(announcement_id)
    message = personalised(content_of(announcement), as_recipient(user), _("[Preview]") + " ")
    row = queue(message, template=TEMPLATE, kind=BULK)
    row.meta = {"preview_of": announcement.id}
    db.session.commit()
    return row


def summary(announcement_id: int, reader: User) -> Summary:
    """The announcement, its parts as ``reader`` would receive them, and its delivery counts."""
    announcement = get(announcement_id)
    message = personalised(content_of(announcement, with_files=False), as_recipient(reader))
    counts = delivery_counts([announcement.id])[announcement.id]
    return Summary(announcement, count_recipients(), counts, message.body or "", message.html)


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
    except (DomainError, ValueError) as error:
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


def find_unfinished(subject: str, text_body: str, html_body: str | None,
                    attachments: Sequence[Attachment]) -> Announcement | None:
    """An announcement with this exact content whose fan-out never finished, to resume it."""
    candidates = db.session.scalars(select(Announcement).where(
        Announcement.status == SENDING, Announcement.subject == subject.strip(),
        Announcement.text_body == text_body).order_by(Announcement.id.desc()))
    for candidate in candidates:
        if candidate.html_body == html_body and files_of(candidate) == list(attachments):
            return candidate
    return None


def recent(limit: int = 50) -> list[Announcement]:
    """The latest announcements, newest first."""
    return list(db.session.scalars(select(Announcement).order_by(Announcement.id.desc()).limit(limit)))


def delivery_counts(announcement_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per announcement, how many of its copies are in each outbox status (previews excluded)."""
    query = (select(OutboxMessage.announcement_id, OutboxMessage.status, func.count())
             .where(OutboxMessage.announcement_id.in_(list(announcement_ids)))
             .group_by(OutboxMessage.announcement_id, OutboxMessage.status))
    counts: dict[int, dict[str, int]] = {aid: {} for aid in announcement_ids}
    for aid, status, count in db.session.execute(query):
        if aid is not None:
            counts[aid][status] = int(count)
    return counts


def _subscriber(token: str) -> User:
    """The user an unsubscribe token belongs to, or TokenInvalid."""
    if not TOKEN_SHAPE.fullmatch(token):
        raise TokenInvalid("unknown unsubscribe link")
    user: User | None = db.session.scalar(select(User).where(User.unsubscribe_token == token))
    # The lookup is by index; the constant-time comparison guards against case-folding collations.
    if user is None or not hmac.compare_digest(user.unsubscribe_token.encode(), token.encode()):
        raise TokenInvalid("unknown unsubscribe link")
    return user


def check_token(token: str) -> None:
    """Raise TokenInvalid unless the unsubscribe token belongs to someone; changes nothing."""
    _subscriber(token)
    db.session.commit()


def set_subscribed(token: str, subscribed: bool) -> None:
    """Stop (or resume) announcements for the owner of the token; account email is unaffected."""
    user = _subscriber(token)
    user.subscribed = subscribed
    db.session.commit()
