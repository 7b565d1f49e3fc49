"""Previews of an announcement before the mass send: each language version as its readers will get
it, shown on the admin's page or emailed to the admin alone."""

from __future__ import annotations

from dataclasses import dataclass, replace

from flask_mail import Message
from flask_mailroom.queue import BULK, OutboxMessage

from mailroom.domain.languages import ENGLISH, LOCALES, NATIVE_NAMES
from mailroom.emails import queue
from mailroom.extensions import db
from mailroom.i18n import _
from mailroom.models import Announcement, User
from mailroom.services.announcement_audience import as_recipient
from mailroom.services.announcement_copies import TEMPLATE, Content, content_of, personalised
from mailroom.services.announcement_drafting import get

# The main version is written for readers of English (and of any language without its own version).
MAIN = ENGLISH


class NoSuchVersion(LookupError):
    """The announcement exists, but has no version in the language asked for."""


@dataclass(frozen=True)
class Preview:
    """One language version as a reader of that language gets it (named, greeted, footer and all)."""

    language: str
    name: str
    subject: str
    text: str
    html: str | None


def _has_own_version(content: Content, language: str) -> bool:
    """Whether readers of ``language`` get a version of their own (one with a subject and a text)."""
    found = content.versions.get(language)
    return isinstance(found, dict) and bool(found.get("subject")) and bool(found.get("text_body"))


def languages_of(content: Content) -> list[str]:
    """The languages the announcement has a version in: the main one first, then each translation."""
    return [MAIN, *(lang for lang in LOCALES if lang != MAIN and _has_own_version(content, lang))]


def version_read_by(language: str | None, versions: list[str]) -> str:
    """The version a reader of ``language`` (None: not chosen) receives."""
    return language if language in versions else MAIN


def _rendered(content: Content, reader: User, language: str | None, subject_prefix: str = "") -> Message:
    """The copy of the ``language`` version that ``reader`` would get if they read that language."""
    return personalised(content, replace(as_recipient(reader), language=language), subject_prefix)


def previews(announcement: Announcement, reader: User) -> list[Preview]:
    """Every language version of the announcement as ``reader`` would get it in that language."""
    content = content_of(announcement, with_files=False)
    found = []
    for language in languages_of(content):
        message = _rendered(content, reader, language)
        found.append(Preview(language, NATIVE_NAMES[language], str(message.subject or ""),
                             message.body or "", message.html))
    return found


def one(announcement_id: int, reader: User, language: str) -> Preview:
    """One language version as ``reader`` would get it; NoSuchVersion when the announcement has none
    in ``language`` (LookupError when there is no such announcement)."""
    for found in previews(get(announcement_id), reader):
        if found.language == language:
            return found
    raise NoSuchVersion(f"announcement {announcement_id} has no {language} version")


def send(announcement_id: int, user: User, language: str | None = None) -> OutboxMessage:
    """Queue one copy to ``user`` alone, marked as a preview (it never counts as the real send): the
    ``language`` version, or by default the copy ``user`` would get. NoSuchVersion when there is no
    such version (LookupError when there is no such announcement)."""
    content = content_of(get(announcement_id))
    if language is not None and language not in languages_of(content):
        raise NoSuchVersion(f"announcement {announcement_id} has no {language} version")
    chosen = user.language if language is None else language
    row = queue(_rendered(content, user, chosen, _("[Preview]") + " "), template=TEMPLATE, kind=BULK)
    row.meta = {"preview_of": content.id, "language": chosen or MAIN}
    db.session.commit()
    return row
