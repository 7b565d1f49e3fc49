"""The mail settings: Flask-Mail 0.10's keys with its defaults, then ours."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask

from flask_mailroom.rules.pacing import Rate, RateInvalid, parse_rate

__all__ = ["OUTBOX_DEFAULTS", "DeliverySettings", "apply_defaults"]

ENGINE_DEFAULTS: dict[str, Any] = {
    # A claim's lifetime: a dead worker's mail is taken over after this (live ones renew).
    "OUTBOX_CLAIM_TTL": 20,
    # The most rows one connection claims at a time (it claims about a second's worth).
    "OUTBOX_BATCH_SIZE": 100,
    # Throttling replies (421, 451, 454) one message may get before it fails; they do not use
    # its attempts.
    "OUTBOX_MAX_THROTTLES": 30,
    # The delivery engine: SMTP connections per worker process, how many of them carry account
    # mail only, and the provider's rate limit ("14/second"; shared in Redis when REDIS_URL).
    "MAIL_CONNECTIONS": 8,
    "MAIL_RESERVED_CONNECTIONS": 1,
    "MAIL_RATE_LIMIT": None,
}


# The outbox's retry and retention rules (the host application may show them in its own defaults).
OUTBOX_DEFAULTS: dict[str, Any] = {
    "OUTBOX_MAX_ATTEMPTS": 8,
    "OUTBOX_BACKOFF_BASE": 30,
    "OUTBOX_BACKOFF_MAX": 3600,
    # Days a finished message keeps its body; seconds between a worker's purges (0: none).
    "OUTBOX_RETENTION_DAYS": 7,
    "OUTBOX_PURGE_INTERVAL": 3600,
}


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
        **OUTBOX_DEFAULTS,
        **ENGINE_DEFAULTS,
        "MAIL_SMTPUTF8": False,
    }


# The most threads a worker renders messages ahead on (see ``DeliverySettings.preparers``).
MAX_PREPARERS = 4


@dataclass(frozen=True)
class DeliverySettings:
    """The delivery engine's settings, read and checked once from a configuration."""

    connections: int
    reserved: int
    rate: Rate | None
    claim_ttl: float
    batch_size: int
    max_throttles: int

    @property
    def preparers(self) -> int:
        """Threads that render messages ahead of their connections: a render takes milliseconds
        against a send's tens, so a few serve every connection (and the interpreter lock would
        make more no faster)."""
        return min(self.connections, MAX_PREPARERS)

    @property
    def database_connections(self) -> int:
        """Database connections one worker process keeps open: one per SMTP connection and per
        preparer, and the outcome writer's, the heartbeat's and housekeeping's."""
        return self.connections + self.preparers + 4

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> DeliverySettings:
        """From ``config`` (defaults for keys it lacks); ValueError names a wrong setting."""
        value = {key: default if config.get(key) is None else config[key]
                 for key, default in ENGINE_DEFAULTS.items()}
        connections, reserved = int(value["MAIL_CONNECTIONS"]), int(value["MAIL_RESERVED_CONNECTIONS"])
        if connections < 1:
            raise ValueError("MAIL_CONNECTIONS must be at least 1")
        if reserved < 0:
            raise ValueError("MAIL_RESERVED_CONNECTIONS cannot be negative")
        if float(value["OUTBOX_CLAIM_TTL"]) < 4:
            raise ValueError("OUTBOX_CLAIM_TTL must be at least 4 seconds")
        if int(value["OUTBOX_MAX_THROTTLES"]) < 1:
            raise ValueError("OUTBOX_MAX_THROTTLES must be at least 1")
        try:
            rate = parse_rate(str(value["MAIL_RATE_LIMIT"])) if value["MAIL_RATE_LIMIT"] else None
        except RateInvalid as error:
            raise ValueError(f"MAIL_RATE_LIMIT: {error}") from None
        return cls(connections=connections, reserved=min(reserved, connections - 1), rate=rate,
                   claim_ttl=float(value["OUTBOX_CLAIM_TTL"]),
                   batch_size=max(1, int(value["OUTBOX_BATCH_SIZE"])),
                   max_throttles=int(value["OUTBOX_MAX_THROTTLES"]))


def apply_defaults(app: Flask) -> None:
    """Fill in every mail setting the application did not set; check the ones that conflict."""
    for key, value in {**flask_mail_defaults(app), **our_defaults(app)}.items():
        if app.config.get(key) is None:
            app.config[key] = value
    if app.config["MAIL_USE_TLS"] and app.config["MAIL_USE_SSL"]:
        raise RuntimeError("MAIL_USE_TLS and MAIL_USE_SSL cannot both be true")
    if app.config["MAIL_TRANSPORT"] not in ("smtp", "devmail"):
        raise RuntimeError(f"MAIL_TRANSPORT must be smtp or devmail, not {app.config['MAIL_TRANSPORT']!r}")
    try:
        DeliverySettings.of(app.config)
    except ValueError as error:
        raise RuntimeError(str(error)) from None
