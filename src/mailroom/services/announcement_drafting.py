"""Storing an announcement as a draft, and finding stored ones again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_mailroom.compose import Attachment
from sqlalchemy import select

from mailroom.extensions import db
from mailroom.models import Announcement, AnnouncementAttachment
from mailroom.services.announcement_text import check_attachments, check_text, render_markdown
from mailroom.state import now

DRAFT = "draft"
SENDING = "sending"
QUEUED = "queued"


def _html_body(markdown: str | None, html: str | None) -> str | None:
    """The HTML part: rendered from Markdown (raw HTML escaped), else the operator's own."""
    if markdown is not None and html is not None:
        raise ValueError("give markdown or html, not both")
    return render_markdown(markdown) if markdown and markdown.strip() else (html or None)


def create(subject: str, text_body: str, *, markdown: str | None = None, html: str | None = None,
           attachments: Sequence[Attachment] = (), author_id: int | None = None,
           greeting: bool = True, versions: dict[str, dict[str, Any]] | None = None) -> Announcement:
    """Store a draft; ``markdown`` is rendered (raw HTML escaped), ``html`` is the operator's own;
    ``greeting`` starts each copy with "Hello <name>,"; ``versions`` are the bodies in other languages."""
    html_body = _html_body(markdown, html)
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
