"""Per-application mail state, and the database the mail tables live in.

``app.extensions["mail"]`` holds a ``MailState``: it answers Flask-Mail's attribute names
(``default_sender``, ``suppress``, ...) from the live configuration, so Flask-Mail's own
``Message`` works unchanged, and it knows which database to use: the host's Flask-SQLAlchemy
database by default, or ``MAILROOM_DATABASE_URL``.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from flask.globals import app_ctx
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, scoped_session, sessionmaker

from flask_mailroom.clock import Clock, SystemClock
from flask_mailroom.settings import DeliverySettings

KEY = "mail"
# A pooled connection given back less than this many seconds ago is not pinged at its next checkout.
PING_AFTER_IDLE = 1.0
IDLE_SINCE = "mailroom_idle_since"
_PINGING_WHEN_IDLE: weakref.WeakSet[Engine] = weakref.WeakSet()


def engine_url(url: str) -> str:
    """A SQLAlchemy URL from an operator's one: ``postgres://`` means psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _sqlite_waits(dbapi_connection: Any, connection_record: Any) -> None:
    """On our own SQLite engine, wait for a busy database instead of failing at once."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.close()


def _note_idle(dbapi_connection: Any, connection_record: Any) -> None:
    """Remember when a connection went back to the pool (none when it was invalidated)."""
    if connection_record is not None:
        connection_record.info[IDLE_SINCE] = time.monotonic()


def _ping_if_idle(engine: Engine) -> Callable[[Any, Any, Any], None]:
    """A checkout hook pinging a connection that sat idle (a fresh one, or one just given back, is
    alive); a dead one is replaced by the pool (DisconnectionError)."""
    def checkout(dbapi_connection: Any, connection_record: Any, proxy: Any) -> None:
        idle_since = connection_record.info.get(IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError("the pooled connection did not answer a ping") from error
        if not alive:
            raise DisconnectionError("the pooled connection did not answer a ping")
    return checkout


def ping_when_idle(engine: Engine) -> None:
    """Ping pooled connections only after PING_AFTER_IDLE seconds unused, instead of at every
    checkout (``pool_pre_ping``): a worker checks a connection out for every claim and every
    deferred email, and a ping per checkout is a round trip each time."""
    if engine in _PINGING_WHEN_IDLE or not engine.pool._pre_ping:
        return
    _PINGING_WHEN_IDLE.add(engine)
    # SQLAlchemy has no public switch for pre-ping on an existing engine; the hook above replaces it.
    engine.pool._pre_ping = False
    event.listen(engine, "checkin", _note_idle)
    event.listen(engine, "checkout", _ping_if_idle(engine))


def _context_id() -> int:
    """One session per application context, as Flask-SQLAlchemy does."""
    return id(app_ctx._get_current_object())  # type: ignore[attr-defined]


@dataclass(eq=False)
class MailState:
    """What ``Mail.init_app`` keeps for one application."""

    app: Flask
    mail: Any
    clock_of: Callable[[], Clock] = field(default=SystemClock)
    # The CLI group the commands were added under (``flask mail ...``), None when none were.
    cli_group: str | None = "mail"
    services: dict[str, Any] = field(default_factory=dict)
    own_engine: Engine | None = None
    own_sessions: scoped_session[Session] | None = None

    # --- Flask-Mail's attributes, from the live configuration -----------------------------------

    def _config(self, key: str) -> Any:
        """One setting of the application."""
        return self.app.config.get(key)

    @property
    def default_sender(self) -> str | tuple[str, str] | None:
        """MAIL_DEFAULT_SENDER, which Flask-Mail's Message reads when given no sender."""
        return self._config("MAIL_DEFAULT_SENDER")  # type: ignore[no-any-return]

    @property
    def suppress(self) -> bool:
        """MAIL_SUPPRESS_SEND: store and record, never hand to a mail server."""
        return bool(self._config("MAIL_SUPPRESS_SEND"))

    @property
    def ascii_attachments(self) -> bool:
        """MAIL_ASCII_ATTACHMENTS: attachment names folded to ASCII."""
        return bool(self._config("MAIL_ASCII_ATTACHMENTS"))

    @property
    def max_emails(self) -> int | None:
        """MAIL_MAX_EMAILS: messages per SMTP connection before it is reopened."""
        return self._config("MAIL_MAX_EMAILS")  # type: ignore[no-any-return]

    @property
    def server(self) -> str:
        """MAIL_SERVER."""
        return str(self._config("MAIL_SERVER"))

    @property
    def port(self) -> int:
        """MAIL_PORT."""
        return int(self._config("MAIL_PORT"))

    @property
    def delivery(self) -> DeliverySettings:
        """The delivery engine's settings (connections, lane, rate limit, claims), checked."""
        return DeliverySettings.of(self.app.config)

    # --- time -------------------------------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        """The clock the mail core reads (the host's, when it gave one)."""
        return self.clock_of()

    def now(self) -> datetime:
        """The current time by that clock."""
        return self.clock.now()

    # --- database ---------------------------------------------------------------------------------

    def _host_database(self) -> Any:
        """The host's Flask-SQLAlchemy extension, or a clear error."""
        found = self.app.extensions.get("sqlalchemy")
        if found is None:
            raise RuntimeError("Mailroom's mail needs a database: initialise Flask-SQLAlchemy on the "
                               "application or set MAILROOM_DATABASE_URL")
        return found

    @property
    def separate_database(self) -> bool:
        """Whether the mail tables live in a database of their own (MAILROOM_DATABASE_URL)."""
        return bool(self._config("MAILROOM_DATABASE_URL"))

    @property
    def engine(self) -> Engine:
        """The engine of the database holding the mail tables."""
        if not self.separate_database:
            engine = self._host_database().engine
            assert isinstance(engine, Engine)
            return engine
        if self.own_engine is None:
            self.own_engine = create_engine(engine_url(str(self._config("MAILROOM_DATABASE_URL"))),
                                            pool_pre_ping=True)
            event.listen(self.own_engine, "connect", _sqlite_waits)
        return self.own_engine

    @property
    def session(self) -> scoped_session[Session]:
        """The session the mail core's own reads and writes use in this application context."""
        if not self.separate_database:
            sessions = self._host_database().session
            assert isinstance(sessions, scoped_session)
            return sessions
        if self.own_sessions is None:
            self.own_sessions = scoped_session(sessionmaker(bind=self.engine), scopefunc=_context_id)
        return self.own_sessions

    def remove_session(self, error: BaseException | None = None) -> None:
        """At the end of an application context, end the mail core's own session (if it has one)."""
        if self.own_sessions is not None:
            self.own_sessions.remove()

    def dispose(self) -> None:
        """Close the pooled connections of the mail core's own engine (if it has one)."""
        if self.own_engine is not None:
            self.own_engine.dispose()


def state(app: Flask | None = None) -> MailState:
    """The mail state of the given application, or of the current one."""
    target = app if app is not None else current_app
    found = target.extensions.get(KEY)
    if not isinstance(found, MailState):
        raise RuntimeError("this application was not set up with flask_mailroom.Mail (Mail.init_app)")
    return found


def now() -> datetime:
    """The current time by the current application's mail clock."""
    return state().now()


class MailDatabase:
    """``db.engine`` and ``db.session`` of the current application's mail tables."""

    @property
    def engine(self) -> Engine:
        """The engine holding the mail tables."""
        return state().engine

    @property
    def session(self) -> scoped_session[Session]:
        """The session for the mail core's reads and writes."""
        return state().session


db = MailDatabase()
