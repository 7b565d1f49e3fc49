"""What an announcement may say: the limits on its text and files, and its Markdown rendered safely."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from flask_babel import format_number
from flask_mailroom import HeaderInjection
from flask_mailroom.compose import Attachment, check_header_value
from markdown_it import MarkdownIt

from mailroom.i18n import _

SUBJECT_MAX = 200
BODY_MAX = 100_000
MAX_ATTACHMENTS = 10
# Files are stored once per announcement, but each delivery still carries them: keep them small.
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024


class AnnouncementError(Exception):
    """An announcement was refused; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@cache
def _markdown() -> MarkdownIt:
    """CommonMark with tables and strikethrough; raw HTML is shown as text, never passed through."""
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def render_markdown(source: str) -> str:
    """Markdown to an HTML fragment, with any raw HTML in the source escaped."""
    return str(_markdown().render(source))


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


def _usable_filename(filename: str) -> bool:
    """Whether a file name can go into a message header as it is."""
    if not filename.strip() or len(filename) > 255 or "/" in filename:
        return False
    try:
        check_header_value("file name", filename)
    except HeaderInjection:
        return False
    return True


def check_attachments(attachments: Sequence[Attachment]) -> None:
    """Refuse too many files, too many bytes, and unusable file names."""
    if len(attachments) > MAX_ATTACHMENTS:
        raise AnnouncementError("attachments", _("Attach at most %(max)d files.", max=MAX_ATTACHMENTS))
    if sum(len(a.data) for a in attachments) > MAX_ATTACHMENT_BYTES:
        limit = MAX_ATTACHMENT_BYTES // (1024 * 1024)
        raise AnnouncementError("attachments", _("Attachments may total at most %(max)d MB.",
                                                 max=limit))
    for item in attachments:
        if not _usable_filename(item.filename):
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
