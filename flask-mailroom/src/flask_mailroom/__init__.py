"""Flask-Mailroom: Flask-Mail's API on a durable outbox, delivered by workers.

    from flask_mailroom import Mail, Message

    mail = Mail(app)                      # or Mail() and mail.init_app(app) in the factory
    mail.send(Message("Hi", recipients=["ann@example.com"], body="..."))

``send`` returns once the message is stored; ``flask mail worker`` delivers it. These names are
what a host needs; operators' APIs live in the public subpackages ``flask_mailroom.queue``,
``flask_mailroom.deliverability``, ``flask_mailroom.compose``, ``flask_mailroom.engine``,
``flask_mailroom.devmail``, ``flask_mailroom.health``, ``flask_mailroom.models``,
``flask_mailroom.settings`` and ``flask_mailroom.clock``.
"""

from flask_mail import Attachment, email_dispatched

from flask_mailroom.compose.deferred import Builder, Skip
from flask_mailroom.compose.message import Message
from flask_mailroom.errors import AddressInvalid, HeaderInjection, MailError
from flask_mailroom.extension import Connection, Mail
from flask_mailroom.signals import email_delivered

__version__ = "0.1.0"

__all__ = [
    "AddressInvalid",
    "Attachment",
    "Builder",
    "Connection",
    "HeaderInjection",
    "Mail",
    "MailError",
    "Message",
    "Skip",
    "email_delivered",
    "email_dispatched",
]
