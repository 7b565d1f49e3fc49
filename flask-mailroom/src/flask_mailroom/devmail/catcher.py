"""The development SMTP catcher: any SMTP client delivers into the dev mailbox shown at /dev/mail."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from flask import Flask

from flask_mailroom.deliverability import inbound
from flask_mailroom.models import DevMail
from flask_mailroom.store import db, state

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 1025


def store(app: Flask, mail_from: str, rcpt_to: Sequence[str], raw: bytes, source: str) -> int:
    """Keep one received message in the dev mailbox, in a transaction of its own; its id."""
    with app.app_context():
        row = DevMail(received_at=state(app).clock.now(), mail_from=mail_from,
                      rcpt_to=list(rcpt_to), raw=raw, source=source)
        db.session.add(row)
        db.session.commit()
        return int(row.id)


def read_bounces(app: Flask, rcpt_to: Sequence[str], raw: bytes) -> int:
    """A message for the bounce address (MAIL_BOUNCE_ADDRESS) is read as a bounce report."""
    bounce_address = str(app.config.get("MAIL_BOUNCE_ADDRESS") or "").lower()
    if not bounce_address or bounce_address not in {a.lower() for a in rcpt_to}:
        return 0
    with app.app_context():
        return inbound.ingest_dsn(raw, "dsn:catcher")


class CatcherHandler:
    """aiosmtpd handler: every message accepted is stored, nothing is relayed."""

    def __init__(self, app: Flask) -> None:
        """Store into this application's database."""
        self.app = app

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Store the message exactly as received."""
        raw = bytes(envelope.original_content or envelope.content or b"")
        try:
            number = store(self.app, envelope.mail_from or "", envelope.rcpt_tos, raw, "catcher")
            read_bounces(self.app, envelope.rcpt_tos, raw)
        except Exception:
            self.app.logger.exception("the catcher could not store a message")
            return "451 4.3.0 Could not store the message, try again"
        return f"250 2.0.0 Stored in the development mailbox as #{number}"


def start_catcher(app: Flask, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> Any:
    """Listen on ``host:port`` in a background thread; stop it with ``.stop()``."""
    from aiosmtpd.controller import Controller

    controller = Controller(CatcherHandler(app), hostname=host, port=port,
                            enable_SMTPUTF8=True, ident="Mailroom development catcher")
    controller.start()
    return controller


def run_catcher(app: Flask, host: str, port: int, stop: threading.Event) -> None:
    """Serve until ``stop`` is set."""
    controller = start_catcher(app, host, port)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        controller.stop()
