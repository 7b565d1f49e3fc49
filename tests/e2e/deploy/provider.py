"""The mail provider: an aiosmtpd server that demands STARTTLS and AUTH, with a certificate made now."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import threading
from collections import Counter
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.e2e.deploy.processes import free_port, wait_until
from tests.support.smtp import TrackedSMTP, abort_connections


@dataclass(frozen=True)
class Certificates:
    """Where the provider's key and certificate chain and the CA to trust are written."""

    ca: Path
    cert: Path
    key: Path


def _name(common_name: str) -> x509.Name:
    """A subject or issuer with only a common name."""
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: str, issuer: str, public_key: Any) -> x509.CertificateBuilder:
    """A certificate valid from a minute ago for one day."""
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
            .public_key(public_key).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=1)))


def make_certificates(folder: Path) -> Certificates:
    """A throw-away CA and a server certificate for 127.0.0.1 and localhost signed by it."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (_builder("Mailroom e2e CA", "Mailroom e2e CA", ca_key.public_key())
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                            key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, key_cert_sign=True, crl_sign=True,
                                            encipher_only=False, decipher_only=False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                              critical=False)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    cert = (_builder("127.0.0.1", "Mailroom e2e CA", key.public_key())
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = Certificates(ca=folder / "ca.pem", cert=folder / "smtp-cert.pem", key=folder / "smtp-key.pem")
    paths.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    return paths


@dataclass(frozen=True)
class Delivered:
    """One message as the provider accepted it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        """The parsed message."""
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def message_id(self) -> str:
        """The Message-ID header."""
        return str(self.message.get("Message-ID", ""))

    @property
    def subject(self) -> str:
        """The decoded Subject header."""
        return str(self.message.get("Subject", ""))

    def text(self) -> str:
        """The text/plain part."""
        part = self.message.get_body(preferencelist=("plain",))
        return str(part.get_content()) if part is not None else ""

    def html(self) -> str:
        """The text/html part."""
        part = self.message.get_body(preferencelist=("html",))
        return str(part.get_content()) if part is not None else ""


@dataclass
class Mailbox:
    """The aiosmtpd handler: keeps every accepted message, and counts the failed logins."""

    delivered: list[Delivered] = field(default_factory=list)
    failed_logins: int = 0
    transports: set[Any] = field(default_factory=set)
    # Seconds the provider takes to accept each message (real providers take tens of ms).
    latency: float = 0.0
    condition: threading.Condition = field(default_factory=threading.Condition)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Accept the message (after the configured latency) and remember it."""
        if self.latency:
            await asyncio.sleep(self.latency)
        item = Delivered(str(envelope.mail_from), tuple(envelope.rcpt_tos),
                         bytes(envelope.original_content or envelope.content))
        with self.condition:
            self.delivered.append(item)
            self.condition.notify_all()
        return "250 2.0.0 Message accepted for delivery"


class QuietSession(Session):
    """aiosmtpd's session without the deprecation warning aiosmtpd itself sets off on every login."""

    @property
    def login_data(self) -> Any:
        """The login name of a successful AUTH."""
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        """Store the login name quietly."""
        self._login_data = value


class ProviderSMTP(TrackedSMTP):
    """aiosmtpd's protocol with the quiet session."""

    def _create_session(self) -> Session:
        """A session that does not warn."""
        return QuietSession(self.loop)


class ProviderController(Controller):
    """A Controller that serves ProviderSMTP."""

    def factory(self) -> SMTP:
        """Build the protocol with the Controller's options."""
        return ProviderSMTP(self.handler, **self.SMTP_kwargs)


class MailProvider:
    """An SMTP server on loopback that requires STARTTLS and then AUTH, as a real provider does."""

    def __init__(self, folder: Path, username: str, password: str) -> None:
        self.certificates = make_certificates(folder)
        self.username = username
        self.password = password
        self.port = free_port()
        self.mailbox = Mailbox()
        self.controller: ProviderController | None = None

    def _tls(self) -> ssl.SSLContext:
        """The server side of STARTTLS."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certificates.cert, self.certificates.key)
        return context

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        """Accept only the configured login and password."""
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == self.username.encode()
              and auth_data.password == self.password.encode())
        if not ok:
            with self.mailbox.condition:
                self.mailbox.failed_logins += 1
        return AuthResult(success=ok, handled=False)

    def start(self) -> MailProvider:
        """Listen on the provider's port (the same port after a restart)."""
        self.controller = ProviderController(
            self.mailbox, hostname="127.0.0.1", port=self.port, tls_context=self._tls(),
            require_starttls=True, authenticator=self._authenticate, auth_required=True,
            auth_require_tls=True, enable_SMTPUTF8=True)
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop every open connection."""
        if self.controller is not None:
            abort_connections(self.controller, self.mailbox.transports)
            self.controller.stop()
            self.controller = None

    @property
    def running(self) -> bool:
        """Whether the provider is listening."""
        return self.controller is not None

    def config(self) -> dict[str, str]:
        """The environment that points Mailroom at this provider."""
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(self.port), "MAIL_USE_TLS": "1",
                "MAIL_USE_SSL": "0", "MAIL_USERNAME": self.username,
                "MAIL_PASSWORD": self.password, "MAIL_SSL_CAFILE": str(self.certificates.ca)}

    @property
    def messages(self) -> list[Delivered]:
        """Everything accepted so far."""
        with self.mailbox.condition:
            return list(self.mailbox.delivered)

    def count(self) -> int:
        """How many messages were accepted so far."""
        with self.mailbox.condition:
            return len(self.mailbox.delivered)

    def to(self, address: str) -> list[Delivered]:
        """The messages for one recipient, oldest first."""
        key = address.lower()
        return [m for m in self.messages if key in (r.lower() for r in m.rcpt_tos)]

    def wait_for(self, address: str, subject_part: str, since: int = 0,
                 timeout: float = 30.0) -> Delivered:
        """The first message to ``address`` about ``subject_part`` among those after the first ``since``."""
        key = address.lower()

        def found() -> Delivered | None:
            for item in self.messages[since:]:
                if key in (r.lower() for r in item.rcpt_tos) and (
                        subject_part.lower() in item.subject.lower()):
                    return item
            return None

        return wait_until(found, timeout, f"an email to {address} about {subject_part!r}",
                          lambda: "last received: " + "; ".join(
                              f"{m.rcpt_tos} {m.subject!r}" for m in self.messages[-10:]))


def tally(messages: list[Delivered]) -> Counter[str]:
    """How many times each Message-ID was received."""
    return Counter(m.message_id for m in messages)
