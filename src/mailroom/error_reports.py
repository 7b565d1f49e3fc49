"""Errors of the running application, emailed to ADMINS through the outbox.

A logging handler on the ``mailroom`` logger turns each ERROR record into an outbox row when mail
is configured (an SMTP transport), ADMINS is set and debug is off. At most one report per kind of
error (logger, message, exception type and origin) every ERROR_EMAIL_INTERVAL seconds leaves a
process, and at most MAX_KINDS_PER_INTERVAL kinds; the database's unique ``dedupe_key`` keeps
several processes from sending the same report in one interval. Reports are written in a
session of their own when the application context ends, after the failed request's transaction
was rolled back, so that rollback cannot drop them (and on SQLite its lock is free). Nothing in
here ever raises into the code that logged the error.
"""

from __future__ import annotations

import hashlib
import logging
import re
import socket
import threading
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask, current_app, g, has_app_context, has_request_context, request
from flask_mailroom.compose import Envelope, compose
from flask_mailroom.queue import OutboxMessage
from sqlalchemy.orm import Session

from mailroom.extensions import mail
from mailroom.state import state

log = logging.getLogger(__name__)

SERVICE = "error_reports"
PENDING = "_mailroom_error_reports"
MAX_KINDS_PER_INTERVAL = 10
MAX_DETAILS = 20_000
SUBJECT_LENGTH = 150
# SQLAlchemy errors quote the statement's parameters, which can hold addresses or hashes.
_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\n|$)", re.S)
_guard = threading.local()


@dataclass(frozen=True)
class Report:
    """What an error report says."""

    when: datetime
    summary: str
    where: str
    logger: str
    level: str
    host: str
    request: str | None
    details: str
    suppressed: int
    interval: int


def enabled(app: Flask) -> bool:
    """Reports go out when there are ADMINS, a real mail server, and debug is off."""
    config = app.config
    return bool(config["ADMINS"]) and not app.debug and config["MAIL_TRANSPORT"] == "smtp"


def origin_of(record: logging.LogRecord) -> str:
    """Where the error was raised (the innermost frame), or where it was logged."""
    if record.exc_info and record.exc_info[1] is not None:
        frames = traceback.extract_tb(record.exc_info[1].__traceback__)
        if frames:
            return f"{frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name}"
    return f"{record.pathname}:{record.lineno} in {record.funcName}"


def kind_of(record: logging.LogRecord) -> str:
    """What makes two errors "the same": logger, message template, exception type and origin."""
    error = record.exc_info[1] if record.exc_info else None
    return f"{record.name}|{record.msg}|{type(error).__qualname__}|{origin_of(record)}"


def one_line(text: str, limit: int) -> str:
    """Text on a single line, shortened to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def summary_of(record: logging.LogRecord) -> str:
    """The message, and the exception when there is one."""
    message = record.getMessage()
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        return f"{type(error).__name__}: {error} ({message})"
    return message


def details_of(record: logging.LogRecord) -> str:
    """The message and traceback, without SQL parameters, bounded in size."""
    text = record.getMessage()
    if record.exc_info:
        text += "\n\n" + "".join(traceback.format_exception(*record.exc_info))
    return _PARAMETERS.sub("[parameters hidden]", text)[:MAX_DETAILS]


def request_line() -> str | None:
    """Method, route and client of the current request (the rule, not the path: paths can carry
    tokens; the client as the trusted proxies name it, PROXY_FIX_X_FOR)."""
    if not has_request_context():
        return None
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    return f"{request.method} {rule} (endpoint {request.endpoint}) from {request.remote_addr or '-'}"


@dataclass
class ErrorReporter:
    """Per application: when each kind of error was last reported, and how often held back since."""

    app: Flask
    sent_at: dict[str, datetime] = field(default_factory=dict)
    held_back: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def interval(self) -> timedelta:
        """The shortest time between two reports of the same kind."""
        return timedelta(seconds=self.app.config["ERROR_EMAIL_INTERVAL"])

    def admit(self, kind: str, moment: datetime) -> int | None:
        """None when this kind is held back now; else how often it was held back since its last report."""
        with self.lock:
            self.sent_at = {k: t for k, t in self.sent_at.items() if moment - t < self.interval()}
            if kind in self.sent_at or len(self.sent_at) >= MAX_KINDS_PER_INTERVAL:
                self.held_back[kind] = self.held_back.get(kind, 0) + 1
                return None
            self.sent_at[kind] = moment
            return self.held_back.pop(kind, 0)

    def dedupe_key(self, kind: str, moment: datetime) -> str:
        """The same kind in the same interval gets the same key, across every process."""
        window = int(moment.timestamp()) // max(1, int(self.interval().total_seconds()))
        return f"error-report:{window}:{hashlib.sha256(kind.encode()).hexdigest()[:40]}"

    def report(self, record: logging.LogRecord) -> OutboxMessage | None:
        """The outbox row reporting this record, or None when it is held back."""
        moment = state(self.app).clock.now()
        kind = kind_of(record)
        held = self.admit(kind, moment)
        if held is None:
            return None
        report = Report(moment, one_line(summary_of(record), 500), origin_of(record), record.name,
                        record.levelname, socket.gethostname(), request_line(), details_of(record),
                        held, int(self.interval().total_seconds()))
        message = compose("error_report", Envelope(recipients=list(self.app.config["ADMINS"])),
                          report=report, headline=one_line(report.summary, SUBJECT_LENGTH))
        return mail.stored_row(message, template="error_report", dedupe_key=self.dedupe_key(kind, moment))


def write(rows: list[OutboxMessage]) -> None:
    """Store report rows in a session and transaction of their own; a duplicate is skipped."""
    for row in rows:
        with Session(mail.engine) as session:
            try:
                session.add(row)
                session.commit()
            except Exception:
                session.rollback()
                log.warning("an error report could not be queued", exc_info=True)


def flush(error: BaseException | None = None) -> None:
    """At the end of the application context: store the reports it produced."""
    rows = g.pop(PENDING, None)
    if rows:
        write(rows)


class ErrorMailHandler(logging.Handler):
    """The logging side: hand ERROR records of the current application to its reporter."""

    def __init__(self) -> None:
        """Handle ERROR and above."""
        super().__init__(logging.ERROR)

    def emit(self, record: logging.LogRecord) -> None:
        """Queue a report for later in this context; never raise, never recurse."""
        if getattr(_guard, "active", False) or not has_app_context():
            return
        _guard.active = True
        try:
            self._emit(record)
        except Exception:
            log.warning("an error report could not be prepared", exc_info=True)
        finally:
            _guard.active = False

    def _emit(self, record: logging.LogRecord) -> None:
        """Build the report row and remember it until the context ends."""
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
        reporter = state(app).services.get(SERVICE)
        if not isinstance(reporter, ErrorReporter) or not enabled(app):
            return
        row = reporter.report(record)
        if row is not None:
            g.setdefault(PENDING, []).append(row)


HANDLER = ErrorMailHandler()


def install(app: Flask) -> None:
    """Give the application a reporter, and the ``mailroom`` logger the (one, shared) handler."""
    state(app).services[SERVICE] = ErrorReporter(app)
    logger = logging.getLogger("mailroom")
    if HANDLER not in logger.handlers:
        logger.addHandler(HANDLER)
    # Teardown functions run last-registered first: at index 0 this runs after Flask-SQLAlchemy
    # has rolled back and removed the request's session.
    app.teardown_appcontext_funcs.insert(0, flush)
