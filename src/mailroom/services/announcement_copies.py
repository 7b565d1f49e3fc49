"""One reader's copy of an announcement: rendered by the worker at each attempt, or as a preview."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask_mail import Message
from flask_mailroom import Mail
from flask_mailroom.compose import Attachment, Envelope, compose, stream_headers
from flask_mailroom.queue import BULK, OutboxMessage

from mailroom.emails import queue
from mailroom.extensions import db
from mailroom.i18n import _
from mailroom.models import Announcement, User
from mailroom.services.announcement_audience import Recipient, as_recipient, still_subscribed
from mailroom.services.announcement_drafting import files_of, get
from mailroom.state import state
from mailroom.urls import external_url

TEMPLATE = "announcement"
CONTENTS = "announcement_contents"
# Announcements whose content a worker process keeps in memory (they never change once stored).
CONTENTS_KEPT = 8


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


def build_copy(address: str, params: Mapping[str, Any]) -> Message | None:
    """In the worker, at every attempt: one recipient's copy from what its outbox row keeps
    (name, unsubscribe token) and the announcement stored once; None (skipped) when the
    announcement is gone or the reader unsubscribed since the fan-out."""
    content = _cached_content(int(params["announcement"]))
    if content is None or not still_subscribed(int(params["user"])):
        return None
    recipient = Recipient(int(params["user"]), str(params["name"]), address, str(params["token"]),
                          str(params.get("lang") or "") or None, str(params.get("tz") or "") or None)
    return personalised(content, recipient)


def register_builders(extension: Mail) -> None:
    """Let the worker render announcement copies (called by the application factory)."""
    extension.register_builder(TEMPLATE, build_copy, each_attempt=True)


def preview(announcement_id: int, user: User) -> OutboxMessage:
    """Queue one copy to ``user`` alone, marked as a preview; it never counts as the real send."""
    announcement = get(announcement_id)
    message = personalised(content_of(announcement), as_recipient(user), _("[Preview]") + " ")
    row = queue(message, template=TEMPLATE, kind=BULK)
    row.meta = {"preview_of": announcement.id}
    db.session.commit()
    return row
