"""Mailroom's mail as a Flask extension with Flask-Mail's API, on a durable outbox.

    from mailroom.mail import Mail, Message

    mail = Mail(app)                      # or Mail() and mail.init_app(app) in the factory
    mail.send(Message("Hi", recipients=["ann@example.com"], body="..."))

``send`` returns once the message is stored; ``flask mail worker`` delivers it. Everything a
host may rely on is named here; the modules below are the implementation.
"""

from flask_mail import Attachment, email_dispatched

from mailroom.domain.errors import AddressInvalid, HeaderInjection
from mailroom.mail.admin import (
    QueueStatus,
    RetryRefused,
    engine_status,
    queue_status,
    retry_failed,
    status_counts,
)
from mailroom.mail.compose import Attachment as FileAttachment
from mailroom.mail.compose import Envelope, compose, render_pair, stream_headers
from mailroom.mail.deferred import Builder, Intent, Skip, UnknownBuilder
from mailroom.mail.devmail import bp as dev_mailbox
from mailroom.mail.devmail import framed_html
from mailroom.mail.extension import Connection, Mail
from mailroom.mail.heartbeats import Engine, Lane, WorkerReport
from mailroom.mail.locale import rendering_timezone, speaking
from mailroom.mail.message import Message
from mailroom.mail.mime import bare_address, split_address
from mailroom.mail.models import (
    BULK,
    TRANSACTIONAL,
    DevMail,
    InboundEvent,
    MailEvent,
    OutboxMessage,
    OutboxStatus,
    Suppression,
)
from mailroom.mail.models import metadata as mail_metadata
from mailroom.mail.settings import OUTBOX_DEFAULTS, DeliverySettings
from mailroom.mail.signals import email_delivered
from mailroom.mail.store import MailState, state

__all__ = [
    "BULK",
    "OUTBOX_DEFAULTS",
    "TRANSACTIONAL",
    "AddressInvalid",
    "Attachment",
    "Builder",
    "Connection",
    "DeliverySettings",
    "DevMail",
    "Engine",
    "Envelope",
    "FileAttachment",
    "HeaderInjection",
    "InboundEvent",
    "Intent",
    "Lane",
    "Mail",
    "MailEvent",
    "MailState",
    "Message",
    "OutboxMessage",
    "OutboxStatus",
    "QueueStatus",
    "RetryRefused",
    "Skip",
    "Suppression",
    "UnknownBuilder",
    "WorkerReport",
    "bare_address",
    "compose",
    "dev_mailbox",
    "email_delivered",
    "email_dispatched",
    "engine_status",
    "framed_html",
    "mail_metadata",
    "queue_status",
    "render_pair",
    "rendering_timezone",
    "retry_failed",
    "speaking",
    "split_address",
    "state",
    "status_counts",
    "stream_headers",
]
