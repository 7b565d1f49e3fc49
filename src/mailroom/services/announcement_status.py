"""How far announcements have come: the latest ones, their copies by outbox status, one as read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flask_mailroom.queue import OutboxMessage
from sqlalchemy import func, select

from mailroom.extensions import db
from mailroom.models import Announcement, User
from mailroom.services.announcement_audience import as_recipient, count_recipients
from mailroom.services.announcement_copies import content_of, personalised
from mailroom.services.announcement_drafting import get


@dataclass(frozen=True)
class Summary:
    """An announcement as one reader would get it, with how far its delivery has come."""

    announcement: Announcement
    eligible_now: int
    counts: dict[str, int]
    text: str
    html: str | None


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


def summary(announcement_id: int, reader: User) -> Summary:
    """The announcement, its parts as ``reader`` would receive them, and its delivery counts."""
    announcement = get(announcement_id)
    message = personalised(content_of(announcement, with_files=False), as_recipient(reader))
    counts = delivery_counts([announcement.id])[announcement.id]
    return Summary(announcement, count_recipients(), counts, message.body or "", message.html)
