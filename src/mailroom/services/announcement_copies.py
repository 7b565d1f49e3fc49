"""One reader's copy of an announcement: filled by the worker from a layout made once per language,
rendered whole for a preview.

The worker lays each (announcement, language) out once per process, rendered with slot markers
for what is each reader's own (name, address, unsubscribe token); a copy is then a few bytes joins.
Whether readers are still subscribed is asked once per claimed batch, not once per copy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from flask_mail import Message
from flask_mailroom import Mail
from flask_mailroom.compose import LAYOUT_RECIPIENT, Attachment, Copy, Envelope, compose, slot, stream_headers
from flask_mailroom.queue import BULK
from sqlalchemy import ARRAY, Integer, any_, bindparam, select

from mailroom.extensions import db
from mailroom.models import Announcement, User
from mailroom.services.announcement_audience import Recipient, still_subscribed
from mailroom.services.announcement_drafting import files_of
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


def layout(key: tuple[int, str]) -> Message | None:
    """The copy of announcement ``key[0]`` in language ``key[1]`` with slot markers for the
    reader's name, address and unsubscribe token (the templates show no time: no zone in the key);
    None when the announcement is gone."""
    announcement_id, language = key
    content = _cached_content(announcement_id)
    if content is None:
        return None
    reader = Recipient(0, slot("name"), LAYOUT_RECIPIENT, slot("token"), language or None, None)
    message = personalised(content, reader)
    # The body's address is a slot too; compose needed a real address for its checks.
    message.body = (message.body or "").replace(LAYOUT_RECIPIENT, slot("email"))
    message.html = (message.html or "").replace(LAYOUT_RECIPIENT, slot("email")) or None
    return message


def copy_of(address: str, params: Mapping[str, Any]) -> Copy:
    """In the worker, at every attempt: which layout a copy fills and the reader's own values
    (no query, no rendering)."""
    name = str(params["name"])
    return Copy(layout=(int(params["announcement"]), str(params.get("lang") or "")), to=(name, address),
                values={"name": name, "email": address, "token": quote(str(params["token"]), safe="")})


def still_going(params: Sequence[Mapping[str, Any]]) -> list[bool]:
    """For a claimed batch of copies, in one query: whether each reader still exists and still
    wants announcements (on PostgreSQL read in autocommit: one round trip, as often as the worker
    claims)."""
    wanted = sorted({int(one["user"]) for one in params})
    if db.engine.dialect.name == "postgresql":
        # One array parameter: the statement is the same whatever the batch's size.
        query = select(User.id).where(User.id == any_(bindparam("ids", wanted, type_=ARRAY(Integer))),
                                      User.subscribed)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            subscribed = set(connection.scalars(query))
    else:  # SQLite: another connection would wait for the write lock this thread's session may hold
        subscribed = set(db.session.scalars(select(User.id).where(User.id.in_(wanted), User.subscribed)))
    return [int(one["user"]) in subscribed for one in params]


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
    """Let the worker fill announcement copies from prepared layouts (called by the application
    factory); ``build_copy`` renders a copy whole, the way it was done before."""
    extension.register_prepared(TEMPLATE, copy_of, layout, screen=still_going)

