"""A real SMTP server (aiosmtpd) on loopback that records what it receives and can be told to fail."""

from __future__ import annotations

import asyncio
import datetime
import errno
import ipaddress
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from tests.support.services import free_port


def abort_connections(controller: Controller, transports: set[Any]) -> None:
    """Drop the connections still open on a running controller, sockets closed on its loop
    (``Controller.stop`` alone leaves them to the garbage collector, which warns in a later test)."""

    async def abort_all() -> None:
        for transport in list(transports):
            transport.abort()
        for _ in range(2):  # the transports close their sockets on the loop's next rounds
            await asyncio.sleep(0)

    loop = getattr(controller, "loop", None)
    if loop is not None and loop.is_running():
        asyncio.run_coroutine_threadsafe(abort_all(), loop).result(5)


class TrackedSMTP(SMTP):
    """aiosmtpd's protocol, keeping its connection in ``event_handler.transports`` while open."""

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
    """One message as the server received it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    connection: int

    @property
    def message(self) -> EmailMessage:
        """The parsed message."""
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def text(self) -> str:
        """The text/plain body."""
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())

    def html(self) -> str:
        """The text/html body."""
        part = self.message.get_body(preferencelist=("html",))
        assert part is not None
        return str(part.get_content())


@dataclass
class Recorder:
    """The aiosmtpd handler: records messages, and replays scripted replies first."""

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

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        """aiosmtpd's greeting, with PIPELINING among the extensions unless switched off."""
        session.host_name = hostname
        if not self.pipelining:
            return responses
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        """Refuse scripted senders; accept the rest."""
        reply = self.sender_replies.get(address.lower())
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        """Refuse scripted recipients; accept the rest."""
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Answer with the next scripted reply, or record the message and accept it."""
        with self.condition:
            arrived = Received(mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos),
                               data=bytes(envelope.original_content or envelope.content),
                               connection=getattr(session, "mailroom_connection", 0))
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
        super().connection_made(transport)
        self.session.mailroom_connection = number

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
    """A running aiosmtpd server on 127.0.0.1 with a Recorder handler.

    ``port`` reuses a port (a server coming back); ``ssl_context`` makes it implicit TLS; other
    ``pipelining=False`` leaves PIPELINING out of the EHLO reply; other
    keyword arguments go to aiosmtpd's SMTP (``tls_context``, ``require_starttls``,
    ``authenticator``, ``auth_required``...).
    """

    def __init__(self, port: int | None = None, ssl_context: ssl.SSLContext | None = None,
                 pipelining: bool = True, **smtp_kwargs: Any) -> None:
        self.recorder = Recorder(pipelining=pipelining)
        self.chosen_port = port is not None
        self.port = port or free_port()
        smtp_kwargs.setdefault("enable_SMTPUTF8", True)
        self.ssl_context = ssl_context
        self.smtp_kwargs = smtp_kwargs
        self.controller = self._controller()

    def _controller(self) -> CountingController:
        """A controller for ``self.port``, not started."""
        return CountingController(self.recorder, hostname="127.0.0.1", port=self.port,
                                  ssl_context=self.ssl_context, **self.smtp_kwargs)

    def start(self) -> SMTPServer:
        """Start listening; the controller's own start-up probe is not counted as a connection.

        A free port taken in the meantime (by another run on the machine) is swapped for another,
        unless the port was chosen by the test."""
        for attempt in range(5):
            try:
                self.controller.start()
                break
            except OSError as error:
                if self.chosen_port or error.errno != errno.EADDRINUSE or attempt == 4:
                    raise
                if self.controller._thread is not None:  # it never served: close its loop
                    self.controller._thread.join(5)
                    self.controller._thread = None
                self.controller.loop.close()
                self.port = free_port()
                self.controller = self._controller()
        self.wait_until(lambda r: r.disconnections >= r.connections, 5)
        with self.recorder.condition:
            self.recorder.connections = self.recorder.disconnections = 0
        return self

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
        """Block until ``predicate(recorder)`` holds (re-checked on every message and connection)."""
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
        """Block until ``count`` messages arrived (or time out), then return them."""
        with self.recorder.condition:
            self.recorder.condition.wait_for(lambda: len(self.recorder.received) >= count, timeout)
            return list(self.recorder.received)

    def fail_data(self, *replies: str) -> None:
        """Answer the next DATA commands with these replies (e.g. '451 try later')."""
        self.recorder.data_replies.extend(replies)

    def refuse_sender(self, address: str, reply: str = "553 Sender not owned by the login") -> None:
        """Refuse one sender at MAIL FROM."""
        self.recorder.sender_replies[address.lower()] = reply

    def refuse_recipient(self, address: str, reply: str = "550 No such user") -> None:
        """Refuse one recipient at RCPT TO."""
        self.recorder.rcpt_replies[address.lower()] = reply

    def config(self) -> dict[str, Any]:
        """The Mailroom settings that point at this server."""
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": self.port, "MAIL_SUPPRESS_SEND": False,
                "MAIL_TRANSPORT": "smtp", "MAIL_TIMEOUT": 5}

    def find(self, predicate: Callable[[Received], bool]) -> list[Received]:
        """The received messages that match."""
        return [m for m in self.messages if predicate(m)]


# --- TLS and AUTH ------------------------------------------------------------------------------

USERNAME = "mailroom"
PASSWORD = "smtp-password-for-tests"


def self_signed_certificate(folder: Path, common_name: str = "127.0.0.1") -> tuple[Path, Path]:
    """Write a fresh self-signed certificate for 127.0.0.1 and localhost; return (cert, key) paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
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


def check_login(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    """aiosmtpd authenticator accepting only USERNAME / PASSWORD."""
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USERNAME.encode()
          and auth_data.password == PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


def starttls_server(cert: Path, key: Path) -> SMTPServer:
    """A server that demands STARTTLS, then AUTH with USERNAME / PASSWORD."""
    return SMTPServer(tls_context=server_tls_context(cert, key), require_starttls=True,
                      authenticator=check_login, auth_required=True)


def implicit_tls_server(cert: Path, key: Path) -> SMTPServer:
    """A server speaking TLS from the first byte (SMTPS)."""
    return SMTPServer(ssl_context=server_tls_context(cert, key))
