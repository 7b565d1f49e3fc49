"""How far announcements have come: the latest ones, their copies by outbox status, who a send would
reach in each language, and one announcement as its readers will get it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flask_mailroom.queue import announcement_counts
from sqlalchemy import select

from mailroom.domain.progress import Progress, progress
from mailroom.extensions import db
from mailroom.models import Announcement, User
from mailroom.services.announcement_audience import readers_by_language
from mailroom.services.announcement_copies import content_of
from mailroom.services.announcement_drafting import get
from mailroom.services.announcement_preview import Preview, languages_of, previews, version_read_by


@dataclass(frozen=True)
class Audience:
    """Who a send started now would reach (eligible, a usable address, no copy yet), by the language
    version each would get, main version first."""

    by_version: dict[str, int]

    @property
    def total(self) -> int:
        """Everyone it would reach."""
        return sum(self.by_version.values())


@dataclass(frozen=True)
class Summary:
    """An announcement, each of its language versions as the reader would get it, who a send would
    reach now and how far its delivery has come."""

    announcement: Announcement
    audience: Audience
    counts: dict[str, int]
    previews: list[Preview]

    @property
    def eligible_now(self) -> int:
        """How many copies a send started now would queue."""
        return self.audience.total


@dataclass(frozen=True)
class Delivery:
    """Where an announcement's copies are now: its state and its copies by outbox status."""

    announcement: Announcement
    progress: Progress
    counts: dict[str, int]


def recent(limit: int = 50) -> list[Announcement]:
    """The latest announcements, newest first."""
    return list(db.session.scalars(select(Announcement).order_by(Announcement.id.desc()).limit(limit)))


def delivery_counts(announcement_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per announcement, how many of its copies are in each outbox status (previews excluded):
    summed from the mail core's tally, so a million copies are not counted at every refresh."""
    found = announcement_counts(list(announcement_ids))
    return {aid: {status: n for status, n in counts.items() if n} for aid, counts in found.items()}


def audience(announcement: Announcement) -> Audience:
    """Who a send of the announcement started now would reach, by the version each would get."""
    versions = languages_of(content_of(announcement, with_files=False))
    by_version = dict.fromkeys(versions, 0)
    for language, count in readers_by_language(announcement.id).items():
        by_version[version_read_by(language, versions)] += count
    return Audience(by_version)


def audience_of(announcement_id: int) -> Audience:
    """Who a send of the announcement started now would reach; LookupError when there is none."""
    return audience(get(announcement_id))


def delivery(announcement_id: int) -> Delivery:
    """The announcement's state and its copies by outbox status, read now; LookupError when there is
    none."""
    announcement = get(announcement_id)
    counts = delivery_counts([announcement.id])[announcement.id]
    return Delivery(announcement, progress(announcement.status, counts, announcement.recipients_total),
                    counts)


def summary(announcement_id: int, reader: User) -> Summary:
    """The announcement, its versions as ``reader`` would receive them, who a send would reach and
    its delivery counts."""
    announcement = get(announcement_id)
    counts = delivery_counts([announcement.id])[announcement.id]
    return Summary(announcement, audience(announcement), counts, previews(announcement, reader))
