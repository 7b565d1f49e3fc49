"""Composing mail: Flask-Mail's ``Message``, rendered template pairs, MIME, deferred intents.

The public names for hosts that render their own emails into the outbox::

    from flask_mailroom.compose import Envelope, compose

    message = compose("welcome", Envelope(subject="Welcome", recipients=[address]), name=name)
    mail.send(message, session=db.session)
"""

from flask_mailroom.compose.deferred import (
    Builder,
    Copy,
    Intent,
    LayoutFunction,
    Screen,
    Skip,
    UnknownBuilder,
)
from flask_mailroom.compose.headers import check_header_name, check_header_value
from flask_mailroom.compose.locale import rendering_timezone, speaking
from flask_mailroom.compose.message import Message
from flask_mailroom.compose.mime import bare_address, split_address
from flask_mailroom.compose.outbox import Attachment, Envelope, compose, render_pair, stream_headers
from flask_mailroom.compose.prepared import LAYOUT_RECIPIENT, Prepared, slot

__all__ = [
    "LAYOUT_RECIPIENT",
    "Attachment",
    "Builder",
    "Copy",
    "Envelope",
    "Intent",
    "LayoutFunction",
    "Message",
    "Prepared",
    "Screen",
    "Skip",
    "UnknownBuilder",
    "bare_address",
    "check_header_name",
    "check_header_value",
    "compose",
    "render_pair",
    "rendering_timezone",
    "slot",
    "speaking",
    "split_address",
    "stream_headers",
]
