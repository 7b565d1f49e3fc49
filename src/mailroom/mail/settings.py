"""The mail settings: Flask-Mail 0.10's keys with its defaults, then ours."""

from __future__ import annotations

from typing import Any

from flask import Flask


def flask_mail_defaults(app: Flask) -> dict[str, Any]:
    """Flask-Mail 0.10's defaults (debug and suppression follow the application, as there)."""
    return {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": 25,
        "MAIL_USE_TLS": False,
        "MAIL_USE_SSL": False,
        "MAIL_DEBUG": app.debug,
        "MAIL_USERNAME": None,
        "MAIL_PASSWORD": None,
        "MAIL_DEFAULT_SENDER": None,
        "MAIL_MAX_EMAILS": None,
        "MAIL_SUPPRESS_SEND": app.testing,
        "MAIL_ASCII_ATTACHMENTS": False,
    }


def our_defaults(app: Flask) -> dict[str, Any]:
    """What Flask-Mail lacks: timeouts and TLS trust, the worker, the outbox, the dev mailbox."""
    return {
        "MAIL_TIMEOUT": 30,
        "MAIL_SSL_CAFILE": None,
        "MAIL_TRANSPORT": "smtp",
        "MAIL_WORKER_INPROCESS": False,
        "MAIL_DEV_MAILBOX": app.debug,
        "MAIL_DEV_MAILBOX_URL": "/dev/mail",
        "MAIL_DEV_MAILBOX_LAYOUT": "mailroom_mail/layout.html",
        "MAILROOM_DATABASE_URL": None,
        "OUTBOX_MAX_ATTEMPTS": 8,
        "OUTBOX_BACKOFF_BASE": 30,
        "OUTBOX_BACKOFF_MAX": 3600,
        "OUTBOX_CLAIM_TTL": 300,
        "OUTBOX_BATCH_SIZE": 100,
        "OUTBOX_RETENTION_DAYS": 7,
        "OUTBOX_PURGE_INTERVAL": 3600,
        "MAIL_SMTPUTF8": False,
    }


def apply_defaults(app: Flask) -> None:
    """Fill in every mail setting the application did not set; check the ones that conflict."""
    for key, value in {**flask_mail_defaults(app), **our_defaults(app)}.items():
        if app.config.get(key) is None:
            app.config[key] = value
    if app.config["MAIL_USE_TLS"] and app.config["MAIL_USE_SSL"]:
        raise RuntimeError("MAIL_USE_TLS and MAIL_USE_SSL cannot both be true")
    if app.config["MAIL_TRANSPORT"] not in ("smtp", "devmail"):
        raise RuntimeError(f"MAIL_TRANSPORT must be smtp or devmail, not {app.config['MAIL_TRANSPORT']!r}")
