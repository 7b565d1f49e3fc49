"""Read delivered bytes back: headers, bodies, and a Flask-Mail Message for the ``email_delivered``
signal and the development mailbox."""

from __future__ import annotations

from collections.abc import Sequence
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import getaddresses, parsedate_to_datetime, unquote

from flask_mail import Message

# Headers the Message fields already carry; any other header comes back as an extra header.
STANDARD_HEADERS = frozenset({
    "subject", "from", "to", "cc", "bcc", "reply-to", "date", "message-id", "mime-version",
    "content-type", "content-transfer-encoding", "content-disposition",
})


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


def unescape(text: str) -> str:
    """Header text parsed from bytes keeps raw UTF-8 (RFC 6532 headers) as surrogates: make it text."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def decoded(text: str) -> str:
    """Text of a header with its encoded-words decoded; left as it is when they are malformed."""
    try:
        return str(make_header(decode_header(text)))
    except (ValueError, LookupError):
        return text


def addresses(parsed: EmailMessage, name: str) -> list[str | tuple[str, str]]:
    """The mailboxes of one header: ``(name, address)`` when a name is given, else the address.

    Read from the raw header, so that only display names are decoded, never an address.
    """
    raw = [unescape(str(value)) for key, value in parsed.raw_items() if key.lower() == name.lower()]
    return [(decoded(display), addr) if display else addr
            for display, addr in getaddresses(raw) if addr]


def bare(address: str | tuple[str, str]) -> str:
    """The address part, local part unquoted and lower-cased, for comparison."""
    text = address[1] if isinstance(address, tuple) else address
    local, at, domain = text.rpartition("@")
    if local.startswith('"') and local.endswith('"') and len(local) > 1:
        local = unquote(local)
    return f"{local}{at}{domain}".lower()


def extra_headers(parsed: EmailMessage) -> dict[str, str]:
    """Every header that is not one of the Message's own fields."""
    return {name: unescape(str(value)) for name, value in parsed.items()
            if name.lower() not in STANDARD_HEADERS}


def message_from_raw(raw: bytes, envelope: Sequence[str]) -> Message:
    """A Message equivalent to what was sent; Bcc is what the envelope has beyond To and Cc."""
    parsed = parse(raw)
    to, cc = addresses(parsed, "To"), addresses(parsed, "Cc")
    seen = {bare(a) for a in to + cc}
    reply_to = addresses(parsed, "Reply-To")
    message = Message(
        subject=unescape(str(parsed.get("Subject", ""))), recipients=to, cc=cc,
        bcc=[a for a in envelope if bare(a) not in seen],
        sender=unescape(str(parsed.get("From", ""))), reply_to=reply_to[0] if reply_to else None,
        body=body_of(parsed, "plain"), html=body_of(parsed, "html"),
        extra_headers=extra_headers(parsed) or None,
    )
    message.msgId = str(parsed.get("Message-ID", ""))
    if parsed.get("Date"):
        message.date = parsedate_to_datetime(str(parsed["Date"])).timestamp()
    for part in parsed.iter_attachments():
        payload = part.get_payload(decode=True)
        message.attach(part.get_filename(), part.get_content_type(),
                       payload if isinstance(payload, bytes) else b"",
                       part.get_content_disposition())
    return message
