"""The mail core's tables: the outbox, the development mailbox, deliverability, the workers' reports."""

from flask_mailroom.models.base import NAMING, BigId, MailBase, UTCDateTime, metadata
from flask_mailroom.models.deliverability import InboundEvent, MailEvent, Suppression
from flask_mailroom.models.devmail import DevMail
from flask_mailroom.models.outbox import BULK, PRIORITY, TRANSACTIONAL, Claimed, OutboxMessage, OutboxStatus
from flask_mailroom.models.workers import MailWorker

__all__ = [
    "BULK",
    "NAMING",
    "PRIORITY",
    "TRANSACTIONAL",
    "BigId",
    "Claimed",
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
