"""Reading the development mailbox: what the worker and the catcher stored, taken apart for display."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser

from sqlalchemy import delete, func, select

from flask_mailroom.compose.parse import body_of, parse, unescape
from flask_mailroom.models import DevMail
from flask_mailroom.store import db

LIST_LIMIT = 200
# Searching parses each message: look through this many of the newest (a development mailbox).
SEARCH_SCAN_LIMIT = 2000
LINK_SCHEMES = ("http://", "https://", "mailto:")
# Gmail shows "[Message clipped]" and hides the rest when the HTML is larger than about 102 KB.
GMAIL_CLIP_BYTES = 102 * 1024
# A web address in a text part: up to the first blank, closing bracket or quote.
TEXT_LINK = re.compile(r"https?://[^\s<>\"')\]]+")


@dataclass(frozen=True)
class Summary:
    """One line of the mailbox list."""

    id: int
    received_at: datetime
    mail_from: str
    rcpt_to: list[str]
    subject: str
    source: str


@dataclass(frozen=True)
class Part:
    """An attachment: its position among the attachments, name, type and size."""

    index: int
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class MailView:
    """A whole message, taken apart."""

    summary: Summary
    headers: list[tuple[str, str]]
    text: str | None
    html: str | None
    raw: str
    attachments: list[Part]
    links: list[str] = field(default_factory=list)

    @property
    def html_size(self) -> int:
        """The HTML part's size in bytes (UTF-8), which is what Gmail's clipping counts."""
        return len(self.html.encode("utf-8")) if self.html else 0

    @property
    def clipped_by_gmail(self) -> bool:
        """Whether Gmail would clip this message's HTML."""
        return self.html_size > GMAIL_CLIP_BYTES

    def header(self, name: str) -> str:
        """The first header of that name as the recipient reads it, or "" (names are case-blind)."""
        return next((value for key, value in self.headers if key.lower() == name.lower()), "")

    @property
    def dated(self) -> datetime | None:
        """The moment the Date header states, when it holds a readable date."""
        try:
            return parsedate_to_datetime(self.header("Date"))
        except (TypeError, ValueError, IndexError):
            return None


def header_text(parsed: EmailMessage, name: str) -> str:
    """A decoded header, or an empty string; a malformed header shows as received."""
    try:
        value = parsed.get(name)
    except (ValueError, IndexError):
        return "(malformed)"
    return "" if value is None else unescape(str(value))


def summarise(row: DevMail, parsed: EmailMessage) -> Summary:
    """The list line of a stored message."""
    return Summary(row.id, row.received_at, row.mail_from, list(row.rcpt_to),
                   header_text(parsed, "Subject") or "(no subject)", row.source)


def latest(limit: int = LIST_LIMIT) -> list[Summary]:
    """The newest messages first."""
    rows = db.session.scalars(select(DevMail).order_by(DevMail.id.desc()).limit(limit))
    parser = BytesParser(policy=default)
    return [summarise(row, parser.parsebytes(row.raw, headersonly=True)) for row in rows]


def searchable_text(row: DevMail, parsed: EmailMessage) -> str:
    """Subject, every address (envelope and headers) and both bodies, lower-cased, for matching."""
    headers = [header_text(parsed, name) for name in ("Subject", "From", "To", "Cc", "Reply-To")]
    bodies = [body_of(parsed, "plain") or "", body_of(parsed, "html") or ""]
    return "\n".join([row.mail_from, *row.rcpt_to, *headers, *bodies]).lower()


def search(query: str, limit: int = LIST_LIMIT) -> list[Summary]:
    """The newest messages whose subject, addresses or body contain every word of ``query``."""
    words = query.lower().split()
    if not words:
        return latest(limit)
    rows = db.session.scalars(select(DevMail).order_by(DevMail.id.desc()).limit(SEARCH_SCAN_LIMIT))
    found: list[Summary] = []
    for row in rows:
        parsed = parse(row.raw)
        text = searchable_text(row, parsed)
        if all(word in text for word in words):
            found.append(summarise(row, parsed))
            if len(found) >= limit:
                break
    return found


def stored(mail_id: int) -> DevMail:
    """One stored message, or LookupError."""
    row = db.session.get(DevMail, mail_id)
    if row is None:
        raise LookupError(f"no message {mail_id} in the development mailbox")
    return row


class _Links(HTMLParser):
    """Collects the href of every link."""

    def __init__(self) -> None:
        """Start with no links."""
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Keep each <a href> to a web page or an address (never a javascript: or data: link)."""
        href = (dict(attrs).get("href") or "").strip()
        if tag == "a" and href.lower().startswith(LINK_SCHEMES) and href not in self.found:
            self.found.append(href)


def links_in(html: str | None, text: str | None = None) -> list[str]:
    """The distinct link targets of an HTML part, then those only the text part has, in order."""
    collector = _Links()
    if html:
        collector.feed(html)
    found = collector.found
    for link in TEXT_LINK.findall(text or ""):
        if link not in found:
            found.append(link)
    return found


def attachments_of(parsed: EmailMessage) -> list[EmailMessage]:
    """The attachment parts, in order."""
    return list(parsed.iter_attachments())


def _part(index: int, part: EmailMessage) -> Part:
    """The description of one attachment."""
    payload = part.get_payload(decode=True)
    size = len(payload) if isinstance(payload, bytes) else 0
    return Part(index, part.get_filename() or f"attachment-{index}", part.get_content_type(), size)


def view(mail_id: int) -> MailView:
    """One message, taken apart for display."""
    row = stored(mail_id)
    parsed = parse(row.raw)
    html, text = body_of(parsed, "html"), body_of(parsed, "plain")
    return MailView(
        summary=summarise(row, parsed),
        headers=[(name, header_text(parsed, name)) for name in dict.fromkeys(parsed.keys())],
        text=text, html=html, raw=row.raw.decode("utf-8", "replace"),
        attachments=[_part(i, p) for i, p in enumerate(attachments_of(parsed))],
        links=links_in(html, text),
    )


def links_of(mail_id: int) -> list[str]:
    """The links of one message, read in a transaction that ends before they are requested: a link
    check that held it would keep the database (SQLite's write lock, with BEGIN IMMEDIATE) from the
    very pages it asks for, which then answer only after the check has given up on them."""
    try:
        return view(mail_id).links
    finally:
        db.session.rollback()


def html_part(mail_id: int) -> str:
    """The HTML part of a message, or LookupError when it has none."""
    html = body_of(parse(stored(mail_id).raw), "html")
    if html is None:
        raise LookupError(f"message {mail_id} has no HTML part")
    return html


def attachment(mail_id: int, index: int) -> tuple[Part, bytes]:
    """One attachment's description and bytes, or LookupError."""
    parts = attachments_of(parse(stored(mail_id).raw))
    if not 0 <= index < len(parts):
        raise LookupError(f"message {mail_id} has no attachment {index}")
    payload = parts[index].get_payload(decode=True)
    return _part(index, parts[index]), payload if isinstance(payload, bytes) else b""


def raw(mail_id: int) -> bytes:
    """The message exactly as stored."""
    return bytes(stored(mail_id).raw)


def filename(mail_id: int) -> str:
    """A download name for the message: its subject made file-safe, then its id, as ``.eml``."""
    subject = header_text(parse(stored(mail_id).raw), "Subject")
    stem = re.sub(r"[^A-Za-z0-9]+", "-", subject).strip("-")[:60] or "message"
    return f"{stem}-{mail_id}.eml"


def remove(mail_id: int) -> None:
    """Delete one message, or LookupError when it is not there."""
    db.session.delete(stored(mail_id))
    db.session.commit()


def count() -> int:
    """How many messages the mailbox holds."""
    return int(db.session.scalar(select(func.count()).select_from(DevMail)) or 0)


def clear() -> int:
    """Empty the mailbox; how many messages were removed."""
    result = db.session.execute(delete(DevMail))
    db.session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
