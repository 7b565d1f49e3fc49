"""Announcements: bulk email to every confirmed, subscribed user."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from mailroom.db import BigId
from mailroom.extensions import db


class Announcement(db.Model):  # type: ignore[name-defined]
    """One bulk message, written once and fanned out to a row per recipient."""

    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject: Mapped[str] = mapped_column(String(998))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="draft")
    recipients_total: Mapped[int] = mapped_column(default=0)
    queued_count: Mapped[int] = mapped_column(default=0)
    # Whether each copy starts with "Hello <name>,"; the Markdown the HTML part was made from.
    greeting: Mapped[bool] = mapped_column(default=True, server_default=true())
    markdown_body: Mapped[str | None] = mapped_column(Text)
    # Bodies in other languages, by locale: {"zh_Hant": {"subject", "text_body", "html_body"}}.
    # A reader whose language has one gets it; everyone else gets the main body above.
    versions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default="{}")
    attachments: Mapped[list[AnnouncementAttachment]] = relationship(
        back_populates="announcement", cascade="all, delete-orphan", order_by="AnnouncementAttachment.id"
    )


class AnnouncementAttachment(db.Model):  # type: ignore[name-defined]
    """A file sent with an announcement, stored once."""

    __tablename__ = "announcement_attachments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    announcement_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("announcements.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(127))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    announcement: Mapped[Announcement] = relationship(back_populates="attachments")
