"""Signals: Flask-Mail's ``email_dispatched`` when a message is handed over, ours when it is delivered."""

from __future__ import annotations

import blinker
from flask import current_app
from flask_mail import Message, email_dispatched

signals = blinker.Namespace()
email_delivered = signals.signal(
    "mailroom-email-delivered",
    doc="Sent by a delivery worker (sender: the app) when the mail server accepted a message.",
)

__all__ = ["dispatched", "email_delivered", "email_dispatched"]


def dispatched(message: Message) -> None:
    """Fire Flask-Mail's signal for a message just stored, as Flask-Mail does when it sends one."""
    email_dispatched.send(current_app._get_current_object(), message=message)  # type: ignore[attr-defined]
