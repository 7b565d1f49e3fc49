"""The only module that knows SMTP: connections with a timeout, verified TLS, and error mapping."""

from __future__ import annotations

import contextlib
import re
import smtplib
import socket
import ssl
from collections.abc import Mapping, Sequence
from email.utils import parseaddr
from functools import cache
from typing import Any, Protocol

from flask_mailroom.models import DevMail
from flask_mailroom.store import db, now

# Recipients the server refused while accepting the message for the others: address -> reply.
Refused = dict[str, tuple[int, str]]
# Replies about the session, not the message (RFC 4954): authentication or encryption required,
# credentials refused. Every message would get the same answer until the configuration is fixed.
SESSION_REFUSALS = frozenset({530, 534, 535, 538})
# Replies by which a provider says "too fast" (service busy, local error, TLS temporarily
# unavailable): slow the sender down rather than count the message's attempt.
THROTTLING = frozenset({421, 451, 454})
# An envelope address smtplib would send unchanged: sent as it is, without parsing it again.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")


class DeliveryError(Exception):
    """A message could not be handed to the mail server; ``refused`` holds per-recipient replies."""

    permanent = False

    def __init__(self, text: str, refused: Refused | None = None) -> None:
        """The error's text, with the per-recipient replies of the server (none by default)."""
        super().__init__(text)
        self.refused: Refused = refused or {}


class TemporaryFailure(DeliveryError):
    """Worth retrying: the server was unreachable, timed out or answered 4xx."""


class Throttled(TemporaryFailure):
    """The server asked us to slow down (421, 451, 454): not the message's fault."""


class ConnectionFailure(TemporaryFailure):
    """No usable connection could be opened: nothing else will get through until it can."""


class PermanentFailure(DeliveryError):
    """Not worth retrying: the server refused the message with 5xx."""

    permanent = True


class Transport(Protocol):
    """Something that hands finished messages to a mail system."""

    def send(self, mail_from: str, rcpt_to: Sequence[str], raw: bytes) -> Refused:
        """Deliver one message, returning the recipients refused while others were accepted."""
        ...

    def close(self) -> None:
        """Release the connection, if any."""
        ...

    def connect(self) -> None:
        """Make sure a connection is open (ConnectionFailure when none can be); used to probe."""
        ...


def tls_context(cafile: str | None) -> ssl.SSLContext:
    """A verifying context (certificate chain and host name): system CAs, or the operator's CA file."""
    return ssl.create_default_context(cafile=cafile)


@cache
def local_hostname() -> str:
    """The name we greet servers with, looked up once (smtplib would look it up per connection)."""
    return socket.getfqdn()


def classify(code: int, text: str) -> DeliveryError:
    """5xx is permanent; throttling replies slow the sender; other 4xx and anything else are temporary."""
    if 500 <= code < 600:
        return PermanentFailure(f"{code} {text}")
    if code in THROTTLING:
        return Throttled(f"{code} {text}")
    return TemporaryFailure(f"{code} {text}")


def _decode(reply: bytes | str) -> str:
    """An SMTP reply text as a string."""
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _describe(error: BaseException) -> str:
    """A short error text for the outbox row and the logs."""
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_decode(error.smtp_error)}"
    return f"{type(error).__name__}: {error}"


def _refused(error: smtplib.SMTPRecipientsRefused) -> DeliveryError:
    """Every recipient refused: temporary if any refusal was, else permanent."""
    replies = {addr: (code, _decode(text)) for addr, (code, text) in error.recipients.items()}
    text = "; ".join(f"{addr}: {code} {reply}" for addr, (code, reply) in sorted(replies.items()))
    if all(code in THROTTLING for code, _ in replies.values()):
        return Throttled(text)
    if any(not 500 <= code < 600 for code, _ in replies.values()):
        return TemporaryFailure(text, replies)
    return PermanentFailure(text, replies)


def mail_options(mail_from: str, rcpt_to: Sequence[str], raw: bytes) -> list[str]:
    """SMTPUTF8 when an address or a header is UTF-8 (internationalised addresses), else nothing."""
    plain = raw.isascii() and mail_from.isascii() and all(a.isascii() for a in rcpt_to)
    return [] if plain else ["SMTPUTF8"]


def dot_stuffed(raw: bytes) -> bytes:
    """``raw`` with a period doubled at the start of every line (RFC 5321 4.5.2), as smtplib's
    regular expression does, several times faster; ending with CRLF."""
    stuffed = raw.replace(b"\n.", b"\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed if stuffed.endswith(b"\r\n") else stuffed + b"\r\n"


class _RepliesKept(smtplib.SMTP):
    """smtplib.SMTP keeping the server's reply to DATA (for "why didn't I get the email?"), and
    sending a plain envelope address and bytes without smtplib's per-message parsing and regular
    expressions (they cost more than the rest of a send)."""

    last_reply: str = ""

    def mail(self, sender: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        """MAIL FROM; a plain address is sent as it is (smtplib would parse it again)."""
        if any(o.lower() == "smtputf8" for o in options) or not _PLAIN_ADDRESS.fullmatch(sender):
            return super().mail(sender, options)
        listed = "".join(f" {option}" for option in options) if self.does_esmtp else ""
        self.putcmd("mail", f"FROM:<{sender}>{listed}")
        return self.getreply()

    def rcpt(self, recip: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        """RCPT TO; a plain address is sent as it is."""
        if not _PLAIN_ADDRESS.fullmatch(recip):
            return super().rcpt(recip, options)
        listed = "".join(f" {option}" for option in options) if self.does_esmtp else ""
        self.putcmd("rcpt", f"TO:<{recip}>{listed}")
        return self.getreply()

    def data(self, msg: Any) -> tuple[int, bytes]:
        """Send the message and remember the reply."""
        if isinstance(msg, bytes) and not self.debuglevel:
            code, text = self._data_bytes(msg)
        else:
            code, text = super().data(msg)
        self.last_reply = f"{code} {_decode(text)}"
        return code, text

    def _data_bytes(self, raw: bytes) -> tuple[int, bytes]:
        """DATA for bytes: what smtplib does, dot-stuffing with one bytes replace."""
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        self.send(dot_stuffed(raw) + b".\r\n")
        return self.getreply()


class _Pipelined(_RepliesKept):
    """Sends a message's envelope in one write where the server offers PIPELINING (RFC 2920).

    MAIL, RCPT and DATA go out together and their replies are read together: two round trips per
    message instead of three plus one per recipient, which is most of a send's system calls on
    both sides. Failures raise what ``smtplib.SMTP.sendmail`` raises, after the same RSET, so the
    transport maps them in one place whichever way the message went.
    """

    def sendmail(self, from_addr: str, to_addrs: Any, msg: Any, mail_options: Sequence[str] = (),
                 rcpt_options: Sequence[str] = ()) -> dict[str, tuple[int, bytes]]:
        """Pipelined when the server offers it and the envelope is plain; otherwise smtplib's way."""
        self.ehlo_or_helo_if_needed()
        recipients = [to_addrs] if isinstance(to_addrs, str) else list(to_addrs)
        if not self._can_pipeline(from_addr, recipients, msg, mail_options, rcpt_options):
            return super().sendmail(from_addr, recipients, msg, mail_options, rcpt_options)
        listed = "".join(f" {option}" for option in self._mail_options(msg, mail_options))
        group = [f"MAIL FROM:<{from_addr}>{listed}\r\n"]
        group += [f"RCPT TO:<{recipient}>\r\n" for recipient in recipients]
        self.send("".join(group) + "DATA\r\n")
        mail_reply = self.getreply()
        rcpt_replies = [self.getreply() for _ in recipients]
        data_reply = self.getreply()
        refused = self._envelope_refused(from_addr, recipients, mail_reply, rcpt_replies, data_reply)
        return self._content(msg, refused)

    def _can_pipeline(self, from_addr: str, recipients: list[str], msg: Any,
                      mail_options: Sequence[str], rcpt_options: Sequence[str]) -> bool:
        """Whether this message can go the short way: bytes, plain addresses, an offer to pipeline."""
        return (isinstance(msg, bytes) and not self.debuglevel and not rcpt_options
                and self.does_esmtp and self.has_extn("pipelining") and bool(recipients)
                and not any(o.lower() == "smtputf8" for o in mail_options)
                and all(_PLAIN_ADDRESS.fullmatch(a) for a in (from_addr, *recipients)))

    def _mail_options(self, msg: bytes, mail_options: Sequence[str]) -> list[str]:
        """The MAIL FROM parameters smtplib would send: SIZE when offered, then the caller's."""
        sized = [f"size={len(msg)}"] if self.has_extn("size") else []
        return sized + list(mail_options)

    def _envelope_refused(self, from_addr: str, recipients: list[str],
                          mail_reply: tuple[int, bytes], rcpt_replies: list[tuple[int, bytes]],
                          data_reply: tuple[int, bytes]) -> dict[str, tuple[int, bytes]]:
        """The recipients refused while others were accepted; raises when the message cannot go."""
        refused = {address: reply for address, reply in zip(recipients, rcpt_replies, strict=True)
                   if reply[0] not in (250, 251)}
        failed = self._first_failure(from_addr, mail_reply, refused, len(recipients), data_reply)
        if failed is None:
            return refused
        # A DATA the server took anyway (354) is abandoned by closing: ending it could deliver.
        closing = data_reply[0] == 354 or any(code == 421 for code, _ in (mail_reply, *rcpt_replies))
        self._end_transaction(closing)
        raise failed

    def _end_transaction(self, closing: bool) -> None:
        """After a refusal: close when the server said it is closing (421), else RSET as smtplib does."""
        if closing:
            self.close()
            return
        with contextlib.suppress(smtplib.SMTPServerDisconnected):
            self.rset()

    @staticmethod
    def _first_failure(from_addr: str, mail_reply: tuple[int, bytes],
                       refused: dict[str, tuple[int, bytes]], count: int,
                       data_reply: tuple[int, bytes]) -> smtplib.SMTPException | None:
        """The error smtplib would have raised first for these replies, or None."""
        code, text = mail_reply
        if code != 250:
            return smtplib.SMTPSenderRefused(code, text, from_addr)
        if len(refused) == count or any(reply[0] == 421 for reply in refused.values()):
            return smtplib.SMTPRecipientsRefused(refused)
        if data_reply[0] != 354:
            return smtplib.SMTPDataError(*data_reply)
        return None

    def _content(self, msg: bytes, refused: dict[str, tuple[int, bytes]]) -> dict[str, tuple[int, bytes]]:
        """Send the message after DATA's 354 and keep the reply; a refusal raises as smtplib's does."""
        self.send(dot_stuffed(msg) + b".\r\n")
        code, text = self.getreply()
        self.last_reply = f"{code} {_decode(text)}"
        if code != 250:
            self._end_transaction(code == 421)
            raise smtplib.SMTPDataError(code, text)
        return refused


class ReplySMTP(_Pipelined):
    """smtplib.SMTP that keeps the DATA reply."""


class ReplySMTPSSL(_Pipelined, smtplib.SMTP_SSL):
    """smtplib.SMTP_SSL that keeps the DATA reply."""


class SMTPTransport:
    """One SMTP connection reused for every message, reopened after ``MAIL_MAX_EMAILS`` or an error."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        """Read the Flask-Mail settings and ours (timeout, CA file); connect later, when needed."""
        self.host = str(config["MAIL_SERVER"])
        self.port = int(config["MAIL_PORT"])
        self.use_tls = bool(config["MAIL_USE_TLS"])
        self.use_ssl = bool(config["MAIL_USE_SSL"])
        self.username = config.get("MAIL_USERNAME")
        self.password = config.get("MAIL_PASSWORD")
        self.timeout = float(config["MAIL_TIMEOUT"])
        self.cafile = config.get("MAIL_SSL_CAFILE")
        self.max_emails = int(config.get("MAIL_MAX_EMAILS") or 0)
        self.debug = int(bool(config.get("MAIL_DEBUG")))
        self.connection: smtplib.SMTP | None = None
        self.last_reply = ""
        self.sent_on_connection = 0
        self.connections_opened = 0

    def _connect(self) -> smtplib.SMTP:
        """Connect (implicit TLS when MAIL_USE_SSL), then STARTTLS and AUTH as configured."""
        context = tls_context(self.cafile) if self.use_tls or self.use_ssl else None
        host: smtplib.SMTP
        if self.use_ssl:
            host = ReplySMTPSSL(self.host, self.port, local_hostname(), timeout=self.timeout,
                                context=context)
        else:
            host = ReplySMTP(self.host, self.port, local_hostname(), timeout=self.timeout)
        try:
            host.set_debuglevel(self.debug)
            if self.use_tls:
                host.starttls(context=context)
            if self.username and self.password:
                host.login(str(self.username), str(self.password))
        except BaseException:
            host.close()
            raise
        return host

    def open(self) -> smtplib.SMTP:
        """A new connection, or ConnectionFailure saying why there is none."""
        try:
            self.connection = self._connect()
        except (smtplib.SMTPException, OSError) as error:
            raise ConnectionFailure(f"cannot connect to {self.host}:{self.port}: "
                                    f"{_describe(error)}") from None
        self.connections_opened += 1
        self.sent_on_connection = 0
        return self.connection

    def connect(self) -> None:
        """Open a connection unless one is open."""
        if self.connection is None:
            self.open()

    def _connection(self) -> smtplib.SMTP:
        """The open connection, replaced once MAIL_MAX_EMAILS messages have gone over it."""
        if self.connection is not None and self.max_emails and (
            self.sent_on_connection >= self.max_emails
        ):
            self.close()
        return self.connection if self.connection is not None else self.open()

    def send(self, mail_from: str, rcpt_to: Sequence[str], raw: bytes) -> Refused:
        """Deliver one message; a connection the server dropped while idle is reopened once."""
        reused = self.connection is not None and self.sent_on_connection > 0
        try:
            return self._send(self._connection(), mail_from, rcpt_to, raw)
        except smtplib.SMTPServerDisconnected:
            self._drop()
            if not reused:
                raise TemporaryFailure("the server closed the connection") from None
        return self.send(mail_from, rcpt_to, raw)

    def _send(self, host: smtplib.SMTP, mail_from: str, rcpt_to: Sequence[str],
              raw: bytes) -> Refused:
        """One SMTP transaction, every failure mapped to Temporary or Permanent."""
        try:
            refused = host.sendmail(mail_from, list(rcpt_to), raw, mail_options(mail_from, rcpt_to, raw))
        except smtplib.SMTPServerDisconnected:
            raise
        except smtplib.SMTPNotSupportedError as error:
            raise PermanentFailure(f"the server cannot take this message: {error}") from None
        except smtplib.SMTPRecipientsRefused as error:
            self._reset_after_refusal()  # a 421 among the refusals closed the connection
            raise _refused(error) from None
        except smtplib.SMTPResponseException as error:
            self._reset_after_refusal()
            if error.smtp_code in SESSION_REFUSALS:
                self._drop()
                raise ConnectionFailure(f"the server refused the session: {_describe(error)}") from None
            if error.smtp_code == 421:  # the server is closing this connection
                self._drop()
            raise classify(error.smtp_code, _decode(error.smtp_error)) from None
        except (smtplib.SMTPException, OSError) as error:
            self._drop()
            raise TemporaryFailure(_describe(error)) from None
        self.sent_on_connection += 1
        self.last_reply = getattr(host, "last_reply", "")
        return {addr: (code, _decode(text)) for addr, (code, text) in refused.items()}

    def _reset_after_refusal(self) -> None:
        """smtplib has already sent RSET, or closed the connection (421); if it is gone, forget it."""
        if self.connection is not None and self.connection.sock is None:
            self.connection = None

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


def envelope_address(sender: str) -> str:
    """The bare address of a sender written either way."""
    return parseaddr(sender)[1] or sender


class DevMailTransport:
    """Development: every message lands in the dev mailbox table, readable at /dev/mail."""

    def send(self, mail_from: str, rcpt_to: Sequence[str], raw: bytes) -> Refused:
        """Store the message as a mail server would have received it."""
        db.session.add(DevMail(received_at=now(), mail_from=envelope_address(mail_from),
                               rcpt_to=list(rcpt_to), raw=raw, source="worker"))
        db.session.commit()
        return {}

    def close(self) -> None:
        """Nothing to release."""

    def connect(self) -> None:
        """Nothing to open."""


class SuppressedTransport:
    """MAIL_SUPPRESS_SEND: accept everything, send nothing (the dispatch signal still fires)."""

    def send(self, mail_from: str, rcpt_to: Sequence[str], raw: bytes) -> Refused:
        """Drop the message."""
        return {}

    def close(self) -> None:
        """Nothing to release."""

    def connect(self) -> None:
        """Nothing to open."""


def transport_for(config: Mapping[str, Any]) -> Transport:
    """The transport the configuration asks for."""
    if config["MAIL_SUPPRESS_SEND"]:
        return SuppressedTransport()
    if config["MAIL_TRANSPORT"] == "devmail":
        return DevMailTransport()
    return SMTPTransport(config)
