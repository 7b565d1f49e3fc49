"""``Mail``: Flask-Mail's API on a durable outbox.

``mail.send(msg)`` stores the message in a short transaction of its own and returns; a worker
(``flask mail worker``) delivers it. ``mail.send(msg, session=db.session)`` adds it to the
caller's transaction instead, so it goes out only if that transaction commits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from types import TracebackType
from typing import Any, Literal

import flask_mail
from flask import Flask, appcontext_pushed, current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, scoped_session

from flask_mailroom import schema
from flask_mailroom.clock import Clock, SystemClock
from flask_mailroom.compose import deferred
from flask_mailroom.compose.deferred import Builder, Builders, LayoutFunction, Screen
from flask_mailroom.compose.message import Message
from flask_mailroom.compose.mime import bare_address
from flask_mailroom.compose.outbox import outbox_row
from flask_mailroom.models.outbox import TRANSACTIONAL, OutboxMessage
from flask_mailroom.settings import apply_defaults
from flask_mailroom.signals import dispatched
from flask_mailroom.store import KEY, MailState, state

# The commands' group unless the host names another: ``flask mail worker``.
DEFAULT_CLI_GROUP = "mail"
# The caller's session: a Session, or Flask-SQLAlchemy's ``db.session`` (a scoped session).
CallerSession = Session | scoped_session[Any]


def _check_session(mail_state: MailState, session: CallerSession) -> None:
    """A caller's session can only take our row when the mail tables are in its database."""
    if mail_state.separate_database and session.get_bind() is not mail_state.engine:
        raise RuntimeError("send(..., session=) needs the mail tables in the session's database; "
                           "with MAILROOM_DATABASE_URL set, send without session=")


def _commit(row: OutboxMessage | None, session: Session) -> None:
    """Commit ``row`` in ``session``, discarding it (and nothing else) on failure."""
    try:
        if row is not None:
            session.add(row)
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _hide_on_push(app: Flask, **extra: Any) -> None:
    """Flask-Migrate may be set up after us: add the filter when the app is first used."""
    schema.hide_from_host_migrations(app)


class Connection:
    """``with mail.connect() as conn: conn.send(msg)``: one database session for many messages,
    each stored durably when ``send`` returns."""

    def __init__(self, mail: Mail) -> None:
        """Bound to the current application's mail tables; opened by ``with``."""
        self.mail = mail
        self.session: Session | None = None
        self.num_emails = 0

    def __enter__(self) -> Connection:
        """Open the session."""
        self.session = Session(state().engine)
        self.num_emails = 0
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        """Close the session (what was sent is already stored)."""
        if self.session is not None:
            self.session.close()
            self.session = None

    def send(self, message: flask_mail.Message,
             envelope_from: str | tuple[str, str] | None = None) -> OutboxMessage:
        """Store one message in a transaction of its own; MAIL FROM is ``envelope_from`` when given."""
        if self.session is None:
            raise RuntimeError("use the connection in a with block: with mail.connect() as conn: ...")
        row = self.mail.stored_row(message, envelope_from=envelope_from)
        _commit(row, self.session)
        self.num_emails += 1
        dispatched(message)
        return row

    def send_message(self, *args: Any, **kwargs: Any) -> OutboxMessage:
        """``send(Message(*args, **kwargs))``."""
        return self.send(Message(*args, **kwargs))


class _Given(Enum):
    """``init_app`` without ``cli_group``: the group given to the constructor."""

    CONSTRUCTOR = "the constructor's"


class Mail:
    """The extension: ``Mail(app)`` or ``Mail()`` then ``init_app(app)``."""

    def __init__(self, app: Flask | None = None, *, cli_group: str | None = DEFAULT_CLI_GROUP) -> None:
        """Bind to ``app`` now when given; ``cli_group`` names the commands' group (None: no commands)."""
        self.app = app
        self.cli_group = cli_group
        self.builders = Builders(functions={}, each_attempt=set())
        if app is not None:
            self.init_app(app)

    # --- set-up -----------------------------------------------------------------------------------

    def init_app(self, app: Flask, *, clock: Callable[[], Clock] | None = None,
                 cli_group: str | Literal[_Given.CONSTRUCTOR] | None = _Given.CONSTRUCTOR) -> MailState:
        """Set up ``app``, changing only this: ``app.extensions["mail"]`` (the state); defaults for the
        settings it reads that the app lacks (``flask_mailroom.settings.SETTINGS``: MAIL_*, OUTBOX_*,
        MAILROOM_DATABASE_URL, REDIS_*); a teardown that closes the mail session; the commands as
        ``flask <cli_group> ...`` (by default the constructor's, "mail"; None: no commands); the dev
        mailbox blueprint at MAIL_DEV_MAILBOX_URL, only when MAIL_DEV_MAILBOX is on; a first-request
        hook starting the in-process worker, only when MAIL_WORKER_INPROCESS is on; and Flask-Migrate's
        include filter hiding the mail tables from the host's migrations (now, and when an application
        context is pushed, for a Flask-Migrate set up later); nothing in the host's Jinja environment.
        ``clock`` gives the clock to read (tests pass a frozen one)."""
        from flask_mailroom import cli as commands
        from flask_mailroom.devmail import views as devmail
        from flask_mailroom.engine import background

        group = self.cli_group if cli_group is _Given.CONSTRUCTOR else cli_group
        apply_defaults(app)
        mail_state = MailState(app, self, clock_of=clock or SystemClock, cli_group=group)
        app.extensions[KEY] = mail_state
        app.teardown_appcontext(mail_state.remove_session)
        if group is not None:
            app.cli.add_command(commands.mail_group(group))
        if app.config["MAIL_DEV_MAILBOX"]:
            app.register_blueprint(devmail.bp, url_prefix=app.config["MAIL_DEV_MAILBOX_URL"])
        schema.hide_from_host_migrations(app)
        appcontext_pushed.connect(_hide_on_push, app)
        background.start_inprocess_worker(app)
        return mail_state

    @property
    def engine(self) -> Engine:
        """The engine of the current application's mail tables (the host's database, or its own)."""
        return state().engine

    def upgrade(self) -> tuple[str | None, str | None]:
        """Create or upgrade the mail tables (``flask mail upgrade``); (revision before, after)."""
        return schema.upgrade(state().engine)

    def builder(self, name: str) -> Callable[[Builder], Builder]:
        """Decorator form of ``register_builder``, to call in the application factory."""

        def register(function: Builder) -> Builder:
            self.register_builder(name, function)
            return function

        return register

    def register_builder(self, name: str, function: Builder, *, each_attempt: bool = False) -> None:
        """Let the worker build deferred messages named ``name``: ``function(address, params)``
        returns a Message, or None when there is nothing to send. With ``each_attempt`` the message
        is rendered again at every attempt instead of stored (the function must be deterministic)."""
        self.builders.register(name, function, each_attempt=each_attempt)

    def register_prepared(self, name: str, function: Builder, layout: LayoutFunction, *,
                          screen: Screen | None = None, each_attempt: bool = True) -> None:
        """Let the worker fill deferred copies named ``name`` from a message laid out once:
        ``function(address, params)`` returns a :class:`~flask_mailroom.compose.Copy` (the layout's
        key and the copy's own values; it should not query or render), a Skip, or None;
        ``layout(key)`` returns the Message rendered with :func:`~flask_mailroom.compose.slot`
        markers, called once per key per worker process (None: its copies are skipped);
        ``screen(params_list)`` tells, for a whole claimed batch at once, which copies still go out.
        Copies are filled again at every attempt (``function`` must then be deterministic and
        read-only); with ``each_attempt=False`` a copy is filled once and stored with the outcome
        of its first attempt, so that an account email whose values are new at each build (a
        link's token) is resent as it was first sent (after a worker crash mid-send it is filled
        again).
        Filled copies do not fire ``email_dispatched``: no Message is built for them."""
        self.builders.register_prepared(name, function, layout, screen, each_attempt=each_attempt)

    # --- sending ----------------------------------------------------------------------------------

    def stored_row(self, message: flask_mail.Message, *, envelope_from: str | tuple[str, str] | None = None,
                   template: str | None = None, kind: str = TRANSACTIONAL, dedupe_key: str | None = None,
                   announcement_id: int | None = None, expires_at: datetime | None = None) -> OutboxMessage:
        """The outbox row for ``message`` after every check (header injection, addresses, sender)."""
        if not message.sender:
            message.sender = current_app.config.get("MAIL_DEFAULT_SENDER")  # type: ignore[assignment]
        if not message.sender:
            raise ValueError("the message has no sender and MAIL_DEFAULT_SENDER is not set")
        row = outbox_row(message, template=template, kind=kind, dedupe_key=dedupe_key,
                         announcement_id=announcement_id, expires_at=expires_at)
        if envelope_from is not None:
            row.sender = bare_address(envelope_from)
        return row

    def send(self, message: flask_mail.Message, *, session: CallerSession | None = None,
             template: str | None = None, kind: str = TRANSACTIONAL, dedupe_key: str | None = None,
             announcement_id: int | None = None, expires_at: datetime | None = None) -> OutboxMessage:
        """Store ``message`` for delivery: committed before returning, or with ``session=`` added to
        the caller's transaction (sent only if it commits). Accepts Flask-Mail's Message too."""
        mail_state = state()
        row = self.stored_row(message, template=template, kind=kind, dedupe_key=dedupe_key,
                              announcement_id=announcement_id, expires_at=expires_at)
        if session is not None:
            _check_session(mail_state, session)
            session.add(row)
        else:
            with Session(mail_state.engine, expire_on_commit=False) as own:
                _commit(row, own)
        dispatched(message)
        return row

    def send_message(self, *args: Any, **kwargs: Any) -> OutboxMessage:
        """``send(Message(*args, **kwargs))``."""
        return self.send(Message(*args, **kwargs))

    def connect(self) -> Connection:
        """A connection for sending many messages (``with mail.connect() as conn``)."""
        state()
        return Connection(self)

    def defer(self, builder: str, to: str, params: Mapping[str, str | int] | None = None, *,
              session: CallerSession | None = None, expires_at: datetime | None = None) -> OutboxMessage:
        """Queue a message that the worker builds with ``builder`` for address ``to`` (and ``params``):
        the request stores only the intent, no look-up and no rendering."""
        row = deferred.deferred_row(builder, to, params or {}, expires_at=expires_at)
        if session is not None:
            _check_session(state(), session)
            session.add(row)
        else:
            with Session(state().engine, expire_on_commit=False) as own:
                _commit(row, own)
        return row

    def defer_many(self, builder: str, intents: Sequence[deferred.Intent], *, kind: str, subject: str,
                   sender: str, announcement_id: int | None = None) -> int:
        """Queue one deferred message per intent in the current transaction, in bulk (the caller
        commits); ``subject`` and ``sender`` are what the operator's views show."""
        return deferred.defer_many(builder, intents, kind=kind, subject=subject, sender=sender,
                                   announcement_id=announcement_id)

    # --- tests ------------------------------------------------------------------------------------

    @contextmanager
    def record_messages(self) -> Iterator[list[flask_mail.Message]]:
        """Every message sent inside the block, as it was given to ``send`` (Flask-Mail's API)."""
        outbox: list[flask_mail.Message] = []

        def record(app: Flask, message: flask_mail.Message, **extra: Mapping[str, Any]) -> None:
            outbox.append(message)

        with flask_mail.email_dispatched.connected_to(record):
            yield outbox
