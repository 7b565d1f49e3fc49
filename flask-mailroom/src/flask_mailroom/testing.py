"""A real SMTP server for your tests: your app's workers deliver to it and it records what arrives.

``SMTPServer`` runs aiosmtpd on 127.0.0.1 in a thread of the test process, records every message
(``messages``, ``wait_for``) and can be told to refuse senders or recipients, to answer DATA with a
temporary or permanent failure, or to hold its replies (as if the client died before reading
them), so a test exercises the same delivery code as production. ``SMTPServer.starttls`` and
``SMTPServer.implicit_tls`` add TLS (and AUTH) with a certificate made by ``self_signed_certificate``.
It needs ``pip install "Flask-Mailroom[testing]"`` (aiosmtpd, and cryptography for certificates).
"""

from __future__ import annotations

import asyncio
import datetime
import errno
import hmac
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

__all__ = ["Received", "Recorder", "SMTPServer", "TrackedSMTP", "abort_connections",
           "self_signed_certificate", "server_tls_context"]

HOST = "127.0.0.1"


def any_free_port() -> int:
    """A TCP port on loopback that nothing listened on a moment ago (``SMTPServer.start`` takes
    another if it is gone by then)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def abort_connections(controller: Controller, transports: set[Any]) -> None:
    """Drop the connections still open on a running aiosmtpd controller, their sockets closed on its
    loop (``Controller.stop`` alone leaves them to the garbage collector, which warns later)."""

    async def abort_all() -> None:
        for transport in list(transports):
            transport.abort()
        for _ in range(2):  # the transports close their sockets on the loop's next rounds
            await asyncio.sleep(0)

    loop = getattr(controller, "loop", None)
    if loop is not None and loop.is_running():
        asyncio.run_coroutine_threadsafe(abort_all(), loop).result(5)


class TrackedSMTP(SMTP):
    """aiosmtpd's protocol, keeping its connection in ``event_handler.transports`` while open
    (the handler must have that set), so ``abort_connections`` can close it."""

    def connection_made(self, transport: Any) -> None:
        """Remember the connection's own transport (STARTTLS later wraps it)."""
        self.raw_transport = transport
        self.event_handler.transports.add(transport)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        """Forget the connection."""
        self.event_handler.transports.discard(self.raw_transport)
        super().connection_lost(error)


@dataclass
class Received:
    """One message as the server received it: the envelope, the bytes, and which connection (from 1)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    connection: int

    @property
    def message(self) -> EmailMessage:
        """The message parsed by the standard library."""
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def text(self) -> str:
        """The text/plain body."""
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None, "the message has no text/plain body"
        return str(part.get_content())

    def html(self) -> str:
        """The text/html body."""
        part = self.message.get_body(preferencelist=("html",))
        assert part is not None, "the message has no text/html body"
        return str(part.get_content())


@dataclass
class Recorder:
    """The aiosmtpd handler behind ``SMTPServer``: records messages, and replays scripted replies first."""

    received: list[Received] = field(default_factory=list)
    # Messages answered with a scripted DATA reply (e.g. 451) instead of being accepted.
    rejected: list[Received] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    sender_replies: dict[str, str] = field(default_factory=dict)
    connections: int = 0
    disconnections: int = 0
    condition: threading.Condition = field(default_factory=threading.Condition)
    # Once more than ``hold_after`` messages are recorded, each further reply waits for ``gate``.
    hold_after: int | None = None
    gate: threading.Event = field(default_factory=threading.Event)
    held: int = 0
    transports: set[Any] = field(default_factory=set)
    # Offer PIPELINING (RFC 2920) in the EHLO reply, as providers do.
    pipelining: bool = True

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,  # noqa: N802
                          responses: list[str]) -> list[str]:
        """aiosmtpd's greeting, with PIPELINING among the extensions unless switched off."""
        session.host_name = hostname
        if not self.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          mail_options: list[str]) -> str:
        """Refuse scripted senders; accept the rest."""
        reply = self.sender_replies.get(address.lower())
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        """Refuse scripted recipients; accept the rest."""
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """Answer with the next scripted reply, or record the message and accept it."""
        with self.condition:
            arrived = Received(mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos),
                               data=bytes(envelope.original_content or envelope.content),
                               connection=getattr(server, "connection_number", 0))
            if self.data_replies:
                self.rejected.append(arrived)
                return self.data_replies.pop(0)
            self.received.append(arrived)
            holding = self.hold_after is not None and len(self.received) > self.hold_after
            self.held += holding
            self.condition.notify_all()
        if holding:
            # The message is in; its "250" waits, as if the client could die before reading it.
            await asyncio.get_running_loop().run_in_executor(None, self.gate.wait, 60)
        return "250 Message accepted"


class CountingSMTP(TrackedSMTP):
    """aiosmtpd's SMTP protocol, numbering each connection it accepts."""

    def connection_made(self, transport: Any) -> None:
        """Count the connection, then carry on as usual."""
        recorder: Recorder = self.event_handler
        with recorder.condition:
            recorder.connections += 1
            number = recorder.connections
            recorder.condition.notify_all()
        self.connection_number = number
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        """Count the connection's end, then carry on as usual."""
        recorder: Recorder = self.event_handler
        with recorder.condition:
            recorder.disconnections += 1
            recorder.condition.notify_all()
        super().connection_lost(error)


class CountingController(Controller):
    """A Controller whose protocol instances count connections."""

    def factory(self) -> SMTP:
        """Build the protocol with the same options Controller would use."""
        return CountingSMTP(self.handler, **self.SMTP_kwargs)


class SMTPServer:
    """A running aiosmtpd server on 127.0.0.1 that records what it receives.

    ``port`` reuses a port (a server coming back after ``stop``); ``ssl_context`` makes it implicit
    TLS; ``pipelining=False`` leaves PIPELINING out of the EHLO reply; other keyword arguments go to
    aiosmtpd's ``SMTP`` (``tls_context``, ``require_starttls``, ``authenticator``,
    ``auth_required``...). A subclass may override ``pick_port`` (say, with ports from a block of its
    own per test process)::

        server = SMTPServer().start()
        app.config.update(server.config())
        ...                                   # the code under test sends; a worker delivers
        [message] = server.wait_for(1)
        server.stop()
    """

    def __init__(self, port: int | None = None, ssl_context: ssl.SSLContext | None = None,
                 pipelining: bool = True, **smtp_kwargs: Any) -> None:
        self.recorder = Recorder(pipelining=pipelining)
        self.chosen_port = port is not None
        self.port = port or self.pick_port()
        smtp_kwargs.setdefault("enable_SMTPUTF8", True)
        self.ssl_context = ssl_context
        self.smtp_kwargs = smtp_kwargs
        self.controller = self._controller()

    @classmethod
    def starttls(cls, cert: Path, key: Path, username: str, password: str) -> Self:
        """A server (not started) that demands STARTTLS, then AUTH with this username and password."""
        return cls(tls_context=server_tls_context(cert, key), require_starttls=True,
                   authenticator=login_checker(username, password), auth_required=True)

    @classmethod
    def implicit_tls(cls, cert: Path, key: Path) -> Self:
        """A server (not started) speaking TLS from the first byte (SMTPS, usually port 465)."""
        return cls(ssl_context=server_tls_context(cert, key))

    def pick_port(self) -> int:
        """A port to listen on when none was given."""
        return any_free_port()

    def _controller(self) -> CountingController:
        """A controller for ``self.port``, not started."""
        return CountingController(self.recorder, hostname=HOST, port=self.port,
                                  ssl_context=self.ssl_context, **self.smtp_kwargs)

    def start(self) -> Self:
        """Start listening; the controller's own start-up probe is not counted as a connection.

        A free port taken in the meantime (by another program) is swapped for another, unless the
        port was chosen by the caller."""
        for attempt in range(5):
            try:
                self.controller.start()
                break
            except OSError as error:
                if self.chosen_port or error.errno != errno.EADDRINUSE or attempt == 4:
                    raise
                self._discard_controller()
                self.port = self.pick_port()
                self.controller = self._controller()
        self.wait_until(lambda r: r.disconnections >= r.connections, 5)
        with self.recorder.condition:
            self.recorder.connections = self.recorder.disconnections = 0
        return self

    def _discard_controller(self) -> None:
        """Close the loop of a controller that never served."""
        if self.controller._thread is not None:
            self.controller._thread.join(5)
            self.controller._thread = None
        self.controller.loop.close()

    def stop(self) -> None:
        """Stop listening (a held DATA is let go first); stopping twice is fine."""
        self.release()
        if self.controller._thread is not None:
            abort_connections(self.controller, self.recorder.transports)
            self.controller.stop()

    def hold(self, after: int = 0) -> None:
        """Record message ``after + 1`` and later ones, but hold their replies until ``release``."""
        with self.recorder.condition:
            self.recorder.gate.clear()
            self.recorder.hold_after = after

    def release(self) -> None:
        """Let held and future DATA commands through."""
        with self.recorder.condition:
            self.recorder.hold_after = None
        self.recorder.gate.set()

    @property
    def held(self) -> int:
        """How many replies have been held so far."""
        return self.recorder.held

    def wait_until(self, predicate: Callable[[Recorder], bool], timeout: float = 10.0) -> bool:
        """Block until ``predicate(recorder)`` holds (checked again on every message and connection)."""
        with self.recorder.condition:
            return self.recorder.condition.wait_for(lambda: predicate(self.recorder), timeout)

    @property
    def messages(self) -> list[Received]:
        """Everything received so far."""
        with self.recorder.condition:
            return list(self.recorder.received)

    @property
    def rejected(self) -> list[Received]:
        """The messages answered with a scripted failure, as they were sent."""
        with self.recorder.condition:
            return list(self.recorder.rejected)

    @property
    def connections(self) -> int:
        """How many connections the server has accepted."""
        return self.recorder.connections

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until ``count`` messages arrived (or ``timeout`` seconds passed), then return them all."""
        with self.recorder.condition:
            self.recorder.condition.wait_for(lambda: len(self.recorder.received) >= count, timeout)
            return list(self.recorder.received)

    def fail_data(self, *replies: str) -> None:
        """Answer the next DATA commands with these replies (e.g. ``"451 try later"``)."""
        self.recorder.data_replies.extend(replies)

    def refuse_sender(self, address: str, reply: str = "553 Sender not owned by the login") -> None:
        """Refuse one sender at MAIL FROM."""
        self.recorder.sender_replies[address.lower()] = reply

    def refuse_recipient(self, address: str, reply: str = "550 No such user") -> None:
        """Refuse one recipient at RCPT TO."""
        self.recorder.rcpt_replies[address.lower()] = reply

    def config(self) -> dict[str, Any]:
        """The Flask-Mailroom settings that send to this server."""
        return {"MAIL_SERVER": HOST, "MAIL_PORT": self.port, "MAIL_SUPPRESS_SEND": False,
                "MAIL_TRANSPORT": "smtp", "MAIL_TIMEOUT": 5}

    def find(self, predicate: Callable[[Received], bool]) -> list[Received]:
        """The received messages that match."""
        return [m for m in self.messages if predicate(m)]


# --- TLS and AUTH ------------------------------------------------------------------------------


def self_signed_certificate(folder: Path, common_name: str = HOST) -> tuple[Path, Path]:
    """Write a fresh self-signed certificate for 127.0.0.1 and localhost, valid for a day, into
    ``folder``; return the (certificate, key) paths (the client trusts the certificate's file)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """The server side of TLS with the given certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def login_checker(username: str, password: str) -> Callable[..., AuthResult]:
    """An aiosmtpd authenticator that accepts only this username and password."""
    def check(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and hmac.compare_digest(auth_data.login, username.encode())
              & hmac.compare_digest(auth_data.password, password.encode()))
        return AuthResult(success=ok, handled=False)
    return check
