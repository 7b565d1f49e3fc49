"""Rebuild a Flask-Mail Message from delivered bytes, for the dispatch signal and the dev mailbox."""

from __future__ import annotations

from collections.abc import Sequence
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime

from flask_mail import Message


def parse(raw: bytes) -> EmailMessage:
    """Parse bytes with the modern policy, so headers come back decoded."""
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body_of(parsed: EmailMessage, subtype: str) -> str | None:
    """The text of the first part with the given subtype, outside attachments."""
    part = parsed.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_subtype() != subtype:
        return None
    content = part.get_content()
    return content if isinstance(content, str) else None


def _addresses(parsed: EmailMessage, name: str) -> list[str | tuple[str, str]]:
    """Bare addresses from one header."""
    return [addr for _, addr in getaddresses([str(v) for v in parsed.get_all(name, [])]) if addr]


def message_from_raw(raw: bytes, envelope: Sequence[str]) -> Message:
    """A Message equivalent to what was sent; Bcc is what the envelope has beyond To and Cc."""
    parsed = parse(raw)
    to, cc = _addresses(parsed, "To"), _addresses(parsed, "Cc")
    seen = {str(a).lower() for a in to + cc}
    message = Message(
        subject=str(parsed.get("Subject", "")), recipients=to, cc=cc,
        bcc=[a for a in envelope if a.lower() not in seen],
        sender=str(parsed.get("From", "")), reply_to=parsed.get("Reply-To"),
        body=body_of(parsed, "plain"), html=body_of(parsed, "html"),
    )
    message.msgId = str(parsed.get("Message-ID", ""))
    if parsed.get("Date"):
        message.date = parsedate_to_datetime(str(parsed["Date"])).timestamp()
    for part in parsed.iter_attachments():
        payload = part.get_payload(decode=True)
        message.attach(part.get_filename(), part.get_content_type(),
                       payload if isinstance(payload, bytes) else b"")
    return message
