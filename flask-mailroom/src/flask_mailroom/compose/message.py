"""The public ``Message``: Flask-Mail's, with our Message-ID domain and our MIME rendering."""

from __future__ import annotations

from collections.abc import Iterable
from email.message import EmailMessage
from email.utils import make_msgid

import flask_mail
from flask import current_app, has_app_context

from flask_mailroom.compose.mime import render_mime

Address = str | tuple[str, str]
DEFAULT_DOMAIN = "mailroom.localhost"


def message_id_domain() -> str:
    """The domain part of our Message-IDs: the configured server name, without a port."""
    server = current_app.config.get("SERVER_NAME") if has_app_context() else None
    return str(server or DEFAULT_DOMAIN).split(":")[0]


class Message(flask_mail.Message):
    """Flask-Mail's Message, same arguments and attributes; a ``(name, address)`` sender stays a pair
    (names may hold commas), the Message-ID names SERVER_NAME, and rendering is ``render_mime``."""

    def __init__(self, subject: str = "", recipients: list[Address] | None = None,
                 body: str | None = None, html: str | None = None,
                 alts: dict[str, str] | Iterable[tuple[str, str]] | None = None,
                 sender: Address | None = None, cc: list[Address] | None = None,
                 bcc: list[Address] | None = None,
                 attachments: list[flask_mail.Attachment] | None = None,
                 reply_to: Address | None = None, date: float | None = None,
                 charset: str | None = None, extra_headers: dict[str, str] | None = None,
                 mail_options: list[str] | None = None, rcpt_options: list[str] | None = None) -> None:
        """Build the message; the sender defaults to MAIL_DEFAULT_SENDER when there is an app."""
        if sender is None and has_app_context():
            sender = current_app.config.get("MAIL_DEFAULT_SENDER")
        self.subject = subject
        self.recipients = list(recipients or [])
        self.sender = sender  # type: ignore[assignment]
        self.reply_to = reply_to
        self.cc = list(cc or [])
        self.bcc = list(bcc or [])
        self.body = body
        self.alts = dict(alts or {})
        self.html = html
        self.date = date
        self.msgId = make_msgid(domain=message_id_domain())
        self.charset = charset
        self.extra_headers = extra_headers
        self.mail_options = list(mail_options or [])
        self.rcpt_options = list(rcpt_options or [])
        self.attachments = list(attachments or [])

    def _message(self) -> EmailMessage:  # type: ignore[override]
        """The MIME form of this message."""
        return render_mime(self)
