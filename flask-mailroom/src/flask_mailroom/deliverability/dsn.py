"""Reading bounce mail: RFC 3464 delivery-status notifications and RFC 5965 complaint reports.

A DSN is ``multipart/report; report-type=delivery-status`` whose ``message/delivery-status``
part holds one block of fields for the message, then one per recipient (``Final-Recipient``,
``Action``, ``Status``, ``Diagnostic-Code``); the returned message or its headers follow, with our
Message-ID. A failed action with a 5.x.x status is a hard bounce, a 4.x.x status (failed or
delayed) a soft one; delivered, relayed and expanded recipients are no bounce at all.
"""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import parseaddr

from flask_mailroom.deliverability.providers import BOUNCE, COMPLAINT, Report
from flask_mailroom.rules import suppression as rules


def _parse(raw: bytes) -> EmailMessage:
    """The message, parsed with the modern policy."""
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _address(field: str | None) -> str:
    """``rfc822; someone@example.com`` -> ``someone@example.com``."""
    if not field:
        return ""
    _, _, value = str(field).partition(";")
    address = parseaddr(value.strip() or str(field))[1]
    # Only what could be one of our recipients: an @, no control characters, a sane length.
    usable = "@" in address and len(address) <= 320 and address.isprintable()
    return address if usable else ""


def _original_message_id(report: Message) -> str | None:
    """The Message-ID of the returned message (full or headers only), if it is there."""
    for part in report.walk():
        kind = part.get_content_type()
        if kind in ("message/rfc822", "message/rfc822-headers", "text/rfc822-headers"):
            inner = part.get_payload(0) if part.is_multipart() else None
            if isinstance(inner, Message) and inner.get("Message-ID"):
                return str(inner["Message-ID"]).strip()
            text = part.get_payload(decode=True)
            if isinstance(text, bytes):
                found = message_from_bytes(text, policy=policy.default).get("Message-ID")
                if found:
                    return str(found).strip()
    return None


def _recipient_blocks(report: Message) -> list[Message]:
    """The per-recipient field blocks of the delivery-status part (the first block is per message)."""
    for part in report.walk():
        if part.get_content_type() == "message/delivery-status":
            blocks = part.get_payload()
            return [b for b in blocks[1:] if isinstance(b, Message)] if isinstance(blocks, list) else []
    return []


def _bounce_of(block: Message) -> str | None:
    """hard, soft or None for one recipient block."""
    action = str(block.get("Action", "")).strip().lower()
    if action not in ("failed", "delayed"):
        return None
    status = str(block.get("Status", "")).strip()
    kind = rules.bounce_kind(None, status) or rules.bounce_kind(None, str(block.get("Diagnostic-Code", "")))
    if action == "delayed":
        return rules.SOFT
    return kind or rules.HARD


def _bounces(report: Message, message_id: str | None) -> list[Report]:
    """One report per bounced recipient."""
    found = []
    for block in _recipient_blocks(report):
        kind = _bounce_of(block)
        address = _address(block.get("Final-Recipient")) or _address(block.get("Original-Recipient"))
        if kind and address:
            detail = " ".join(str(block.get(n, "")).strip() for n in ("Status", "Diagnostic-Code")).strip()
            found.append(Report(BOUNCE, address, kind, detail, message_id))
    return found


def _complaints(report: Message, message_id: str | None) -> list[Report]:
    """An abuse report (RFC 5965) names the complaining recipient in Original-Rcpt-To."""
    for part in report.walk():
        if part.get_content_type() == "message/feedback-report":
            blocks = part.get_payload()
            fields = blocks[0] if isinstance(blocks, list) and blocks else part
            if not isinstance(fields, Message):
                return []
            address = _address(fields.get("Original-Rcpt-To"))
            kind = str(fields.get("Feedback-Type", "abuse")).strip()
            return [Report(COMPLAINT, address, None, kind, message_id)] if address else []
    return []


def read(raw: bytes) -> list[Report]:
    """The bounces or complaint a report message carries; nothing for any other message."""
    message = _parse(raw)
    if message.get_content_type() != "multipart/report":
        return []
    message_id = _original_message_id(message)
    kind = str(message.get_param("report-type", "")).lower()
    if kind == "delivery-status":
        return _bounces(message, message_id)
    if kind == "feedback-report":
        return _complaints(message, message_id)
    return []
