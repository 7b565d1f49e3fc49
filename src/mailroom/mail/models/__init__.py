"""The mail core's tables: the outbox, the development mailbox, deliverability, the workers' reports."""

from mailroom.mail.models.base import BigId, MailBase, UTCDateTime, metadata
from mailroom.mail.models.deliverability import InboundEvent, MailEvent, Suppression
from mailroom.mail.models.devmail import DevMail
from mailroom.mail.models.outbox import BULK, PRIORITY, TRANSACTIONAL, OutboxMessage, OutboxStatus
from mailroom.mail.models.workers import MailWorker

__all__ = [
    "BULK",
    "PRIORITY",
    "TRANSACTIONAL",
    "BigId",
    "DevMail",
    "InboundEvent",
    "MailBase",
    "MailEvent",
    "MailWorker",
    "OutboxMessage",
    "OutboxStatus",
    "Suppression",
    "UTCDateTime",
    "metadata",
]
