"""The mail core's tables: the outbox and the development mailbox."""

from mailroom.mail.models.base import BigId, MailBase, UTCDateTime, metadata
from mailroom.mail.models.deliverability import InboundEvent, MailEvent, Suppression
from mailroom.mail.models.devmail import DevMail
from mailroom.mail.models.outbox import BULK, PRIORITY, TRANSACTIONAL, OutboxMessage, OutboxStatus

__all__ = [
    "BULK",
    "PRIORITY",
    "TRANSACTIONAL",
    "BigId",
    "DevMail",
    "InboundEvent",
    "MailBase",
    "MailEvent",
    "OutboxMessage",
    "OutboxStatus",
    "Suppression",
    "UTCDateTime",
    "metadata",
]
