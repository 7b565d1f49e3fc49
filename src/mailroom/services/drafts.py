"""Announcement drafts: change or delete one before it is sent; the honest status of every announcement."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_mailroom.compose import Attachment

from mailroom.domain.errors import N_
from mailroom.domain.progress import Progress, progress
from mailroom.extensions import db
from mailroom.i18n import _
from mailroom.models import Announcement, AnnouncementAttachment
from mailroom.services import announcements

NOT_A_DRAFT = N_("This announcement is being sent or was sent: it can no longer be changed or deleted.")


def editable(announcement_id: int) -> Announcement:
    """The draft, or AnnouncementError when sending has started (LookupError when there is none)."""
    found = announcements.get(announcement_id)
    if found.status != announcements.DRAFT:
        raise announcements.AnnouncementError("status", _(NOT_A_DRAFT))
    return found


def _html(draft: Announcement, markdown: str | None) -> str | None:
    """The new HTML part: from the Markdown given, else kept when it was not written as Markdown."""
    if markdown and markdown.strip():
        return announcements.render_markdown(markdown)
    return draft.html_body if draft.markdown_body is None else None


def update(announcement_id: int, subject: str, text_body: str, *, markdown: str | None, greeting: bool,
           attachments: Sequence[Attachment] = (),
           versions: dict[str, dict[str, Any]] | None = None) -> Announcement:
    """Change a draft's text, HTML (Markdown), greeting and versions in other languages, adding files.

    ``versions`` replaces the stored ones when given (a language left out is removed); refused once
    sending began."""
    draft = editable(announcement_id)
    html_body = _html(draft, markdown)
    announcements.check_text(subject, text_body, html_body)
    announcements.check_attachments([*announcements.files_of(draft), *attachments])
    draft.subject, draft.text_body, draft.html_body = subject.strip(), text_body, html_body
    draft.markdown_body = markdown if markdown and markdown.strip() else None
    draft.greeting = greeting
    if versions is not None:
        draft.versions = dict(versions)
    draft.attachments.extend(AnnouncementAttachment(filename=a.filename, content_type=a.content_type,
                                                    data=a.data) for a in attachments)
    db.session.commit()
    return draft


def delete(announcement_id: int) -> str:
    """Delete a draft (its files with it); its subject, for the message."""
    draft = editable(announcement_id)
    subject = draft.subject
    db.session.delete(draft)
    db.session.commit()
    return subject


def status_of(announcement: Announcement, counts: dict[str, int]) -> Progress:
    """Draft, sending (with progress), sent, partly failed or failed."""
    return progress(announcement.status, counts, announcement.recipients_total)
