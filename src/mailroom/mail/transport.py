"""The only module that knows SMTP: connections with a timeout, verified TLS, and error mapping."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from mailroom.extensions import db
from mailroom.models import DevMail
from mailroom.state import now


class DeliveryError(Exception):
    """A message could not be handed to the mail server."""

    permanent = False


class TemporaryFailure(DeliveryError):
    """Worth retrying: the server was unreachable, timed out or answered 4xx."""


class PermanentFailure(DeliveryError):
    """Not worth retrying: the server refused the message with 5xx."""

    permanent = True


class Transport(Protocol):
    """Something that hands finished messages to a mail system."""

    def send(self, mail_from: str, rcpt_to: Sequence[str], raw: bytes) -> None:
        """Deliver one message or raise a DeliveryError."""
        ...

    def close(self) -> None:
        """Release the connection, if any."""
        ...


def tls_context(cafile: str | None) -> ssl.SSLContext:
    """A verifying context: system CAs, or the operator's CA file."""
    return ssl.create_default_context(cafile=cafile)


def _classify(code: int, text: str) -> DeliveryError:
    """4xx is temporary, 5xx permanent, anything else temporary."""
    if 500 <= code < 600:
        return PermanentFailure(f"{code} {text}")
    return TemporaryFailure(f"{code} {text}")


def _decode(reply: bytes | str) -> str:
    """An SMTP reply text as a string."""
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


class SMTPTransport:
    """One reused SMTP connection, reopened after ``max_emails`` messages or an error."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.host = str(config["MAIL_SERVER"])
        self.port = int(config["MAIL_PORT"])
        self.use_tls = bool(config["MAIL_USE_TLS"])
        self.use_ssl = bool(config["MAIL_USE_SSL"])
        self.username = config.get("MAIL_USERNAME")
        self.password = config.get("MAIL_PASSWORD")
        self.timeout = float(config["MAIL_TIMEOUT"])
        self.cafile = config.get("MAIL_SSL_CAFILE")
        self.max_emails = config.get("MAIL_MAX_EMAILS")
        self.debug = int(bool(config.get("MAIL_DEBUG")))
        self.connection: smtplib.SMTP | None = None
        self.sent_on_connection = 0
        self.connections_opened = 0

    def _open(self) -> smtplib.SMTP:
        """Connect, secure and authenticate a new connection."""
        context = tls_context(self.cafile)
        host: smtplib.SMTP
        if self.use_ssl:
            host = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            host = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        host.set_debuglevel(self.debug)
        if self.use_tls:
            host.starttls(context=context)
        if self.username and self.password:
            host.login(str(self.username), str(self.password))
        self.connections_opened += 1
        self.sent_on_connection = 0
        return host

    def _connection(self) -> smtplib.SMTP:
        """The open connection, reopened when MAIL_MAX_EMAILS messages have gone over it."""
        if self.connection is not None and self.max_emails and (
            self.sent_on_connection >= int(self.max_emails)
        ):
            self.close()
        if self.connection is None:
            self.connection = self._open()
        return self.connection

    def send(self, mail_from: str, rcpt_to: Sequence[str], raw: bytes) -> None:
        """Deliver one message, mapping every failure to Temporary or Permanent."""
        try:
            refused = self._connection().sendmail(mail_from, list(rcpt_to), raw)
        except smtplib.SMTPRecipientsRefused as error:
            self._after_reply_error()
            code, text = next(iter(error.recipients.values()))
            raise _classify(code, _decode(text)) from None
        except smtplib.SMTPResponseException as error:
            self._after_reply_error()
            raise _classify(error.smtp_code, _decode(error.smtp_error)) from None
        except (smtplib.SMTPException, OSError) as error:
            self._drop()
            raise TemporaryFailure(f"{type(error).__name__}: {error}") from None
        self.sent_on_connection += 1
        if refused:
            raise PermanentFailure("some recipients refused: " + ", ".join(sorted(refused)))

    def _after_reply_error(self) -> None:
        """After a refusal the session may be mid-transaction: reset it, or drop it if dead."""
        if self.connection is None:
            return
        try:
            self.connection.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        """Forget a broken connection without talking to the server."""
        if self.connection is not None:
            try:
                self.connection.close()
            finally:
                self.connection = None

    def close(self) -> None:
        """Say QUIT politely; a server already gone is fine."""
        if self.connection is None:
            return
        try:
            self.connection.quit()
        except (smtplib.SMTPException, OSError):
            self.connection.close()
        self.connection = None


class DevMailTransport:
    """Development: every message lands in the dev mailbox table, readable at /dev/mail."""

    def send(self, mail_from: str, rcpt_to: Sequence[str], raw: bytes) -> None:
        """Store the message as a mail server would have received it."""
        db.session.add(DevMail(received_at=now(), mail_from=mail_from, rcpt_to=list(rcpt_to),
                               raw=raw, source="worker"))
        db.session.commit()

    def close(self) -> None:
        """Nothing to release."""


class SuppressedTransport:
    """MAIL_SUPPRESS_SEND: accept everything, send nothing (the dispatch signal still fires)."""

    def send(self, mail_from: str, rcpt_to: Sequence[str], raw: bytes) -> None:
        """Drop the message."""

    def close(self) -> None:
        """Nothing to release."""


def transport_for(config: Mapping[str, Any]) -> Transport:
    """The transport the configuration asks for."""
    if config["MAIL_SUPPRESS_SEND"]:
        return SuppressedTransport()
    if config["MAIL_TRANSPORT"] == "devmail":
        return DevMailTransport()
    return SMTPTransport(config)
