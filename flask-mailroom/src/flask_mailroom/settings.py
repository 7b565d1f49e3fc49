"""The mail settings: one typed registry of every key the mail core reads, with its default.

``SETTINGS`` holds one ``Setting`` per key (Flask-Mail 0.10's keys with Flask-Mail's defaults,
then ours), each with its type, a one-sentence description and its group; ``apply_defaults``
fills in every key the application left unset, and the documentation's configuration reference
is generated from the same tuple. ``FOREIGN_KEYS`` names the few keys the mail core reads but
Flask or Flask-Babel own (and default).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Flask

from flask_mailroom.rules.pacing import Rate, RateInvalid, parse_rate

__all__ = [
    "ENGINE_DEFAULTS",
    "FOREIGN_KEYS",
    "GROUPS",
    "OUTBOX_DEFAULTS",
    "SETTINGS",
    "DeliverySettings",
    "Setting",
    "apply_defaults",
    "defaults_for",
    "setting",
]

FLASK_MAIL = "Flask-Mail"
TRANSPORT = "Transport"
STORAGE = "Storage"
OUTBOX = "Outbox"
ENGINE = "Delivery engine"
DELIVERABILITY = "Deliverability"
DEV_MAILBOX = "Development mailbox"
MONITORING = "Monitoring"
#: The groups of ``SETTINGS``, in the order the documentation shows them.
GROUPS: tuple[str, ...] = (FLASK_MAIL, TRANSPORT, STORAGE, OUTBOX, ENGINE, MONITORING, DELIVERABILITY,
                           DEV_MAILBOX)


@dataclass(frozen=True)
class Setting:
    """One configuration key: its default, its type (as the documentation shows it), what it does,
    and its group. A setting that ``follows`` an attribute of the application (``"debug"``,
    ``"testing"``) defaults to that attribute's value, as Flask-Mail's ``MAIL_DEBUG`` and
    ``MAIL_SUPPRESS_SEND`` do."""

    key: str
    default: Any
    type: str
    description: str
    group: str
    follows: str | None = None

    def default_for(self, app: Flask) -> Any:
        """The default this application gets (a fresh copy, so no two applications share a list)."""
        if self.follows is not None:
            return bool(getattr(app, self.follows))
        return copy.deepcopy(self.default)

    @property
    def shown_default(self) -> str:
        """The default as the documentation writes it: ``app.debug``, ``None``, ``30``, ``'smtp'``."""
        if self.follows is not None:
            return f"app.{self.follows}"
        return repr(self.default)


#: Every setting the mail core reads, each a ``Setting``, grouped and in the documentation's order.
SETTINGS: tuple[Setting, ...] = (
    # --- Flask-Mail 0.10's keys, with its defaults ----------------------------------------------
    Setting("MAIL_SERVER", "127.0.0.1", "str", "SMTP host the workers deliver to.", FLASK_MAIL),
    Setting("MAIL_PORT", 25, "int", "SMTP port (587 for STARTTLS, 465 for implicit TLS).", FLASK_MAIL),
    Setting("MAIL_USE_TLS", False, "bool",
            "Upgrade the connection with STARTTLS, verifying the server's certificate.", FLASK_MAIL),
    Setting("MAIL_USE_SSL", False, "bool",
            "Speak TLS from the first byte (SMTPS), verifying the server's certificate.", FLASK_MAIL),
    Setting("MAIL_DEBUG", False, "bool", "Print the SMTP protocol trace of every connection.", FLASK_MAIL,
            follows="debug"),
    Setting("MAIL_USERNAME", None, "str | None", "SMTP AUTH user name (no login when unset).", FLASK_MAIL),
    Setting("MAIL_PASSWORD", None, "str | None", "SMTP AUTH password.", FLASK_MAIL),
    Setting("MAIL_DEFAULT_SENDER", None, "str | tuple[str, str] | None",
            "Sender of messages that name none: a plain address, ``Name <address>`` or a "
            "(name, address) pair.",
            FLASK_MAIL),
    Setting("MAIL_MAX_EMAILS", None, "int | None",
            "Reconnect after this many messages on one SMTP connection (unset: never).", FLASK_MAIL),
    Setting("MAIL_SUPPRESS_SEND", False, "bool",
            "Store and record every message but deliver none (the dispatch signal still fires).", FLASK_MAIL,
            follows="testing"),
    Setting("MAIL_ASCII_ATTACHMENTS", False, "bool", "Fold attachment file names to ASCII.", FLASK_MAIL),
    # --- the transport: what Flask-Mail lacks -----------------------------------------------------
    Setting("MAIL_TIMEOUT", 30, "int | float",
            "Seconds before an SMTP connection or reply times out (Flask-Mail has none).", TRANSPORT),
    Setting("MAIL_SSL_CAFILE", None, "str | None",
            "CA bundle to verify the SMTP server's certificate with (unset: the system's CAs).", TRANSPORT),
    Setting("MAIL_TRANSPORT", "smtp", "str",
            "Where workers deliver: ``smtp`` (the server above) or ``devmail`` (the development mailbox).",
            TRANSPORT),
    # --- storage --------------------------------------------------------------------------------
    Setting("MAILROOM_DATABASE_URL", None, "str | None",
            "Database of the mail tables when not the application's Flask-SQLAlchemy database.", STORAGE),
    # --- the outbox: retries and retention ------------------------------------------------------
    Setting("OUTBOX_MAX_ATTEMPTS", 8, "int", "Attempts before a message is kept as failed.", OUTBOX),
    Setting("OUTBOX_BACKOFF_BASE", 30, "int",
            "Base of the exponential backoff, in seconds: after attempt n a message waits up to "
            "``base * 2 ** (n - 1)``, half of it random jitter.", OUTBOX),
    Setting("OUTBOX_BACKOFF_MAX", 3600, "int", "The cap on that wait, in seconds.", OUTBOX),
    Setting("OUTBOX_RETENTION_DAYS", 7, "int",
            "Days a sent, failed or skipped message keeps its body; then only its metadata stays.", OUTBOX),
    Setting("OUTBOX_PURGE_INTERVAL", 3600, "int",
            "Seconds between a worker's background purges of old bodies (0: never).", OUTBOX),
    # --- the delivery engine --------------------------------------------------------------------
    Setting("MAIL_VACUUM_DEAD_ROWS", 50_000, "int",
            "PostgreSQL: a worker runs VACUUM (ANALYZE) on the outbox once its dead rows pass this "
            "many, or a fifth of its live rows (at least 1,000), one worker at a time, for servers "
            "where autovacuum is off or lags behind a drain (0: never).", ENGINE),
    Setting("MAIL_VACUUM_INTERVAL", 15, "int",
            "Seconds between a worker's checks of the outbox's dead rows (MAIL_VACUUM_DEAD_ROWS): a "
            "drain leaves two per copy, some 50,000 in ten seconds.", ENGINE),
    Setting("MAIL_CONNECTIONS", 8, "int", "Concurrent SMTP connections per worker process.", ENGINE),
    Setting("MAIL_RESERVED_CONNECTIONS", 1, "int",
            "Of those, how many carry account mail only (never bulk); at most connections - 1.", ENGINE),
    Setting("MAIL_RATE_LIMIT", None, "str | None",
            "The provider's limit, such as ``14/second`` or ``600/minute``: shared by every worker "
            "through Redis when ``REDIS_URL`` is set, per worker process otherwise.", ENGINE),
    Setting("OUTBOX_CLAIM_TTL", 20, "int",
            "Seconds a claim lasts: live workers renew theirs every quarter of it, and a dead worker's "
            "messages are taken over after it (4 at least).", ENGINE),
    Setting("OUTBOX_BATCH_SIZE", 100, "int",
            "Most messages one connection claims at a time (it claims about three seconds' worth).", ENGINE),
    Setting("OUTBOX_MAX_THROTTLES", 30, "int",
            "Throttling replies (421, 451, 454) a message may get before it fails; they use none of its "
            "attempts.", ENGINE),
    Setting("MAIL_WORKER_INPROCESS", False, "bool",
            "Run a delivery thread inside the web process, started by the first request (development).",
            ENGINE),
    Setting("REDIS_URL", None, "str | None",
            "Redis that shares ``MAIL_RATE_LIMIT`` between workers (unset: each process paces alone).",
            ENGINE),
    Setting("REDIS_KEY_PREFIX", "mailroom:", "str", "Prefix of every Redis key the mail core writes.",
            ENGINE),
    # --- monitoring -----------------------------------------------------------------------------
    Setting("MAIL_METRICS_PORT", None, "int | None",
            "Port on which ``flask mail worker`` serves Prometheus metrics (``/metrics``) and its "
            "health (``/healthz/live``, ``/healthz/ready``); unset: none. Several workers on one machine "
            "need one port each: ``--metrics-port`` overrides it per process.", MONITORING),
    Setting("MAIL_METRICS_HOST", "127.0.0.1", "str",
            "Address that port listens on (``0.0.0.0``: every interface, for a scraper on another host).",
            MONITORING),
    # --- deliverability -------------------------------------------------------------------------
    Setting("MAIL_FEEDBACK_ID", None, "str | None",
            "Sender part of the ``Feedback-ID`` header (no header when unset).", DELIVERABILITY),
    Setting("MAIL_BOUNCE_ADDRESS", None, "str | None",
            "Envelope sender (Return-Path) of every message (unset: the sender); the catcher reads "
            "reports sent to it.", DELIVERABILITY),
    Setting("MAIL_BOUNCES_URL", None, "str | None",
            "Bounce mailbox that ``flask mail bounces`` reads: ``imaps://user:password@host/INBOX`` or "
            "``pop3s://user:password@host``.", DELIVERABILITY),
    Setting("MAIL_SOFT_BOUNCE_LIMIT", 4, "int",
            "Soft bounces within ``MAIL_SOFT_BOUNCE_DAYS`` that suppress an address.", DELIVERABILITY),
    Setting("MAIL_SOFT_BOUNCE_DAYS", 30, "int", "Days over which soft bounces are counted.", DELIVERABILITY),
    Setting("MAIL_EVENTS_GENERIC_SECRET", None, "str | None",
            "Enables the ``generic`` webhook: ``X-Mailroom-Signature: sha256=<HMAC-SHA256 of the body>``.",
            DELIVERABILITY),
    Setting("MAIL_EVENTS_MAILGUN_SIGNING_KEY", None, "str | None",
            "Enables the ``mailgun`` webhook (Mailgun's webhook signing key).", DELIVERABILITY),
    Setting("MAIL_EVENTS_SES_TOPIC_ARNS", [], "list[str]",
            "SNS topics the ``ses`` webhook accepts (with ``MAIL_EVENTS_SES_CERTS``, enables it).",
            DELIVERABILITY),
    Setting("MAIL_EVENTS_SES_CERTS", None, "str | None",
            "Folder of trusted SNS signing certificates (PEM, named as in ``SigningCertURL``; never "
            "fetched).",
            DELIVERABILITY),
    # --- the development mailbox ----------------------------------------------------------------
    Setting("MAIL_DEV_MAILBOX", False, "bool",
            "Show every delivered message in the browser at ``MAIL_DEV_MAILBOX_URL`` (development only).",
            DEV_MAILBOX, follows="debug"),
    Setting("MAIL_DEV_MAILBOX_URL", "/dev/mail", "str", "Where the development mailbox is mounted.",
            DEV_MAILBOX),
    Setting("MAIL_DEV_MAILBOX_LAYOUT", "mailroom_mail/layout.html", "str",
            "Template the mailbox's pages extend (a host's own, with ``title``, ``content`` and "
            "``scripts`` blocks).", DEV_MAILBOX),
)

#: Keys the mail core reads that others own and default (Flask, and Flask-Babel when installed),
#: with what the mail core uses each for.
FOREIGN_KEYS: dict[str, str] = {
    "SERVER_NAME": "Flask's: the host of absolute links in messages, and the domain of their Message-IDs.",
    "PREFERRED_URL_SCHEME": "Flask's: the scheme of those links.",
    "BABEL_DEFAULT_LOCALE": "Flask-Babel's: the language of a message whose recipient has none (``en``).",
}

_BY_KEY: dict[str, Setting] = {entry.key: entry for entry in SETTINGS}


def setting(key: str) -> Setting:
    """The registry's entry for ``key`` (KeyError when the mail core has no such setting)."""
    return _BY_KEY[key]


def defaults_for(app: Flask) -> dict[str, Any]:
    """Every key's default for ``app``, in the registry's order."""
    return {entry.key: entry.default_for(app) for entry in SETTINGS}


def _defaults_of(group: str) -> dict[str, Any]:
    """The fixed defaults of one group."""
    return {entry.key: entry.default for entry in SETTINGS if entry.group == group}


#: The defaults of the delivery engine's keys, which ``DeliverySettings`` reads and checks.
ENGINE_DEFAULTS: dict[str, Any] = {
    key: setting(key).default
    for key in ("OUTBOX_CLAIM_TTL", "OUTBOX_BATCH_SIZE", "OUTBOX_MAX_THROTTLES", "MAIL_CONNECTIONS",
                "MAIL_RESERVED_CONNECTIONS", "MAIL_RATE_LIMIT")
}

#: The outbox's retry and retention defaults (the ``Outbox`` group), for a host that shows them in
#: its own configuration.
OUTBOX_DEFAULTS: dict[str, Any] = _defaults_of(OUTBOX)


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
    """Fill in every mail setting the application did not set (or set to None); check the ones
    that conflict. RuntimeError names a wrong setting."""
    for entry in SETTINGS:
        if app.config.get(entry.key) is None:
            app.config[entry.key] = entry.default_for(app)
    if app.config["MAIL_USE_TLS"] and app.config["MAIL_USE_SSL"]:
        raise RuntimeError("MAIL_USE_TLS and MAIL_USE_SSL cannot both be true")
    if app.config["MAIL_TRANSPORT"] not in ("smtp", "devmail"):
        raise RuntimeError(f"MAIL_TRANSPORT must be smtp or devmail, not {app.config['MAIL_TRANSPORT']!r}")
    try:
        DeliverySettings.of(app.config)
    except ValueError as error:
        raise RuntimeError(str(error)) from None
