"""Reading the outbox in tests: its rows, a message's text, the code an email carries."""

from __future__ import annotations

import re

from flask import Flask
from flask_mailroom.compose.parse import body_of, parse
from sqlalchemy import select

from mailroom.extensions import db
from mailroom.models import OutboxMessage

# A verification code stands on its own line, indented by four spaces, in the text part.
CODE_LINE = re.compile(r"^ {4}([A-Z2-9]{6})\r?$", re.MULTILINE)


def outbox(app: Flask) -> list[OutboxMessage]:
    """Every outbox row, oldest first."""
    with app.app_context():
        return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def text_of(message: OutboxMessage) -> str:
    """The text part of a queued message, decoded."""
    text = body_of(parse(message.raw), "plain")
    assert text is not None
    return text


def code_in(text: str) -> str:
    """The code shown on its own indented line of an email's text part."""
    found = CODE_LINE.search(text)
    assert found, text
    return found.group(1)


def queued_code(app: Flask) -> str:
    """The code in the newest queued message."""
    return code_in(text_of(outbox(app)[-1]))
