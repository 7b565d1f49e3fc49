"""``flask mail doctor``: check the mail settings against the server before anything is sent.

Each check talks to the server the way the transport will (implicit TLS or STARTTLS, verified
certificates, AUTH, the sender), and every problem becomes one finding with its fix. The doctor
speaks SMTP only to diagnose; delivering stays the transport's job.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any

AUTH_CODE_HINT = ("QQ Mail, 163 and 126 want the authorisation code (授权码) generated in the "
                  "mailbox's settings, not the web password")
GREETING_WAIT = 3.0
PROBE = "Mailroom mail doctor"


class DNSUnavailable(Exception):
    """No DNS server answered: SPF and DMARC cannot be checked from here."""


# TXT records of a name; None when DNS says the name does not exist.
Resolver = Callable[[str], list[str] | None]


@dataclass(frozen=True)
class Finding:
    """One result: fine, or a problem with its fix."""

    ok: bool
    text: str
    fix: str = ""

    def line(self) -> str:
        """The finding as the one line the command prints."""
        if self.ok:
            return f"ok    {self.text}"
        return f"FIX   {self.text} -> {self.fix}"


@dataclass
class Settings:
    """The mail settings the doctor checks."""

    host: str
    port: int
    use_tls: bool
    use_ssl: bool
    username: str | None
    password: str | None
    sender: str
    timeout: float
    cafile: str | None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """Read Flask-Mail's keys and ours."""
        sender = config.get("MAIL_DEFAULT_SENDER") or ""
        address = sender[1] if isinstance(sender, tuple | list) else parseaddr(str(sender))[1]
        return cls(str(config["MAIL_SERVER"]), int(config["MAIL_PORT"]), bool(config["MAIL_USE_TLS"]),
                   bool(config["MAIL_USE_SSL"]), config.get("MAIL_USERNAME"), config.get("MAIL_PASSWORD"),
                   address or str(sender), float(config["MAIL_TIMEOUT"]), config.get("MAIL_SSL_CAFILE"))

    @property
    def where(self) -> str:
        """``host:port``."""
        return f"{self.host}:{self.port}"


@dataclass
class Report:
    """Findings so far, and whether the session can go on."""

    findings: list[Finding] = field(default_factory=list)

    def ok(self, text: str) -> None:
        """Note something that works."""
        self.findings.append(Finding(True, text))

    def problem(self, text: str, fix: str) -> None:
        """Note a problem and its fix."""
        self.findings.append(Finding(False, text, fix))

    @property
    def healthy(self) -> bool:
        """No problem found."""
        return all(f.ok for f in self.findings)


def _context(settings: Settings, verify: bool = True) -> ssl.SSLContext:
    """The TLS context the transport uses (verifying), or one that does not verify (for probing)."""
    context = ssl.create_default_context(cafile=settings.cafile)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _connect(settings: Settings, report: Report) -> socket.socket | None:
    """A TCP connection, or the finding that says why there is none."""
    try:
        return socket.create_connection((settings.host, settings.port), timeout=settings.timeout)
    except OSError as error:
        if settings.port == 25:
            report.problem(f"cannot reach {settings.where} ({error}): outgoing port 25 is blocked by many "
                           "clouds and ISPs", "use port 587 with MAIL_USE_TLS=1, or 465 with MAIL_USE_SSL=1")
        else:
            report.problem(f"cannot reach {settings.where} ({error})",
                           "check MAIL_SERVER and MAIL_PORT, and that a firewall lets the connection out")
        return None


def _speaks_tls(settings: Settings) -> bool:
    """Whether the port answers a TLS handshake (an implicit-TLS port that waits for one)."""
    try:
        with (socket.create_connection((settings.host, settings.port), timeout=settings.timeout) as raw,
              _context(settings, verify=False).wrap_socket(raw, server_hostname=settings.host)):
            return True
    except (OSError, ssl.SSLError):
        return False


def _greets_in_plain(settings: Settings, sock: socket.socket) -> bool:
    """Whether the server sends a plain ``220`` greeting first (it does not on an implicit-TLS port)."""
    sock.settimeout(min(settings.timeout, GREETING_WAIT))
    try:
        return sock.recv(3) == b"220"
    except OSError:
        return False
    finally:
        sock.close()


def check_port_protocol(settings: Settings, report: Report) -> bool:
    """Plain or STARTTLS settings on an implicit-TLS port, or SSL settings on a plain port."""
    sock = _connect(settings, report)
    if sock is None:
        return False
    if settings.use_ssl:
        sock.close()
        return True
    if _greets_in_plain(settings, sock):
        return True
    if _speaks_tls(settings):
        report.problem(f"{settings.where} expects TLS from the first byte (SMTPS, usually port 465), "
                       f"but the settings {'ask for STARTTLS' if settings.use_tls else 'speak plain SMTP'}",
                       "set MAIL_USE_SSL=1 and MAIL_USE_TLS=0 for this port, or use port 587 with STARTTLS")
    else:
        report.problem(f"{settings.where} sends no SMTP greeting", "check MAIL_SERVER and MAIL_PORT")
    return False


def _certificate_problem(settings: Settings, error: ssl.SSLCertVerificationError, report: Report) -> None:
    """The finding for a certificate that does not verify."""
    report.problem(f"the certificate of {settings.where} does not verify ({error.verify_message})",
                   "set MAIL_SSL_CAFILE to the CA that signed it, or put the name on the certificate in "
                   "MAIL_SERVER; never turn verification off")


def _tls_from_first_byte(settings: Settings, report: Report) -> bool:
    """Whether the port completes a verified TLS handshake at once; the finding when it does not."""
    try:
        raw = socket.create_connection((settings.host, settings.port), timeout=settings.timeout)
    except OSError as error:
        report.problem(f"cannot open SMTPS to {settings.where} ({error})", "check MAIL_SERVER and MAIL_PORT")
        return False
    try:
        with _context(settings).wrap_socket(raw, server_hostname=settings.host):
            return True
    except ssl.SSLCertVerificationError as error:
        _certificate_problem(settings, error, report)
    except (ssl.SSLError, OSError) as error:
        report.problem(f"{settings.where} does not speak TLS from the first byte ({error})",
                       "set MAIL_USE_SSL=0 and MAIL_USE_TLS=1 (STARTTLS, usually port 587)")
    finally:
        raw.close()
    return False


def _open_ssl(settings: Settings, report: Report) -> smtplib.SMTP | None:
    """An implicit-TLS session, or the finding that says why not."""
    if not _tls_from_first_byte(settings, report):
        return None
    try:
        return smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                context=_context(settings))
    except (OSError, smtplib.SMTPException) as error:
        report.problem(f"cannot open SMTPS to {settings.where} ({error})", "check MAIL_SERVER and MAIL_PORT")
    return None


def _starttls(settings: Settings, host: smtplib.SMTP, report: Report) -> bool:
    """Upgrade with STARTTLS, verifying the certificate; False (with a finding) when that fails."""
    host.ehlo()
    if not host.has_extn("starttls"):
        report.problem(f"{settings.where} does not offer STARTTLS",
                       "use the provider's submission port (587 with STARTTLS, or 465 with MAIL_USE_SSL=1)")
        return False
    try:
        host.starttls(context=_context(settings))
    except ssl.SSLCertVerificationError as error:
        _certificate_problem(settings, error, report)
        return False
    report.ok(f"STARTTLS on {settings.where} with a verified certificate")
    host.ehlo()
    return True


def open_session(settings: Settings, report: Report) -> smtplib.SMTP | None:
    """A session encrypted as configured (SSL or STARTTLS), or None with the findings."""
    if settings.use_ssl:
        host = _open_ssl(settings, report)
        if host is not None:
            report.ok(f"implicit TLS on {settings.where} with a verified certificate")
        return host
    try:
        host = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    except (OSError, smtplib.SMTPException) as error:
        report.problem(f"cannot open SMTP to {settings.where} ({error})", "check MAIL_SERVER and MAIL_PORT")
        return None
    if settings.use_tls and not _starttls(settings, host, report):
        host.close()
        return None
    return host


def check_login(settings: Settings, host: smtplib.SMTP, report: Report) -> bool:
    """AUTH with the configured login; a refusal comes with the authorisation-code hint."""
    if not (settings.username and settings.password):
        report.ok("no MAIL_USERNAME/MAIL_PASSWORD: the server must accept mail without a login")
        return True
    host.ehlo_or_helo_if_needed()
    if not host.has_extn("auth"):
        report.problem(f"{settings.where} offers no AUTH here",
                       "use MAIL_USE_TLS=1 or MAIL_USE_SSL=1: most servers offer AUTH only over TLS")
        return False
    try:
        host.login(settings.username, settings.password)
    except smtplib.SMTPAuthenticationError as error:
        text = error.smtp_error
        reply = f"{error.smtp_code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"
        report.problem(f"the server refused the login {settings.username!r} ({reply})",
                       f"check MAIL_USERNAME and MAIL_PASSWORD; {AUTH_CODE_HINT}")
        return False
    except smtplib.SMTPException as error:
        report.problem(f"AUTH failed ({error})", "check MAIL_USERNAME and MAIL_PASSWORD")
        return False
    report.ok(f"logged in as {settings.username}")
    return True


def check_sender(settings: Settings, host: smtplib.SMTP, report: Report) -> None:
    """Whether the server takes MAIL FROM with our sender (many only allow the login's address)."""
    code, text = host.mail(settings.sender)
    host.rset()
    if 200 <= code < 300:
        report.ok(f"the server accepts {settings.sender} as the sender")
        return
    who = f"the login {settings.username!r}" if settings.username else "this client"
    report.problem(f"{who} may not send as {settings.sender} ({code} {text.decode('utf-8', 'replace')})",
                   "set MAIL_DEFAULT_SENDER to an address the login owns (QQ, 163 and Gmail require "
                   "the login's own address)")


def _records(resolve: Resolver, name: str, prefix: str) -> list[str] | None:
    """The TXT records of ``name`` that start with ``prefix``; None when the name does not exist."""
    found = resolve(name)
    return None if found is None else [t for t in found if t.lower().startswith(prefix)]


def check_dns(sender: str, resolve: Resolver, report: Report) -> None:
    """SPF and DMARC records for the sender's domain, when DNS can be reached."""
    local, at, domain = sender.rpartition("@")
    if not (local and at and domain):
        return
    domain = domain.lower()
    try:
        spf = _records(resolve, domain, "v=spf1")
        dmarc = _records(resolve, f"_dmarc.{domain}", "v=dmarc1") or []
    except DNSUnavailable:
        report.ok(f"DNS is not reachable from here: SPF and DMARC of {domain} not checked")
        return
    if spf is None:
        report.problem(f"DNS says {domain} does not exist (or this machine's DNS cannot see the internet)",
                       "send from an address on a domain you control (MAIL_DEFAULT_SENDER)")
        return
    if spf:
        report.ok(f"SPF for {domain}: {spf[0]}")
    else:
        report.problem(f"{domain} publishes no SPF record",
                       f"add a TXT record on {domain}: v=spf1 include:<your provider's SPF domain> ~all")
    if dmarc:
        report.ok(f"DMARC for {domain}: {dmarc[0]}")
    else:
        report.problem(f"{domain} publishes no DMARC record",
                       f"add a TXT record on _dmarc.{domain}: v=DMARC1; p=none; rua=mailto:<you>")


def dns_txt(name: str) -> list[str] | None:
    """TXT records of a name through the system's DNS (None: no such name); DNSUnavailable when
    nobody answers."""
    import dns.exception
    import dns.resolver

    try:
        answer = dns.resolver.resolve(name, "TXT", lifetime=3.0)
    except dns.resolver.NXDOMAIN:
        return None
    except dns.resolver.NoAnswer:
        return []
    except (dns.resolver.NoNameservers, dns.exception.Timeout, dns.resolver.NoResolverConfiguration):
        raise DNSUnavailable(name) from None
    return [b"".join(r.strings).decode("utf-8", "replace") for r in answer]


def diagnose(config: Mapping[str, Any], resolve: Resolver | None = dns_txt) -> Report:
    """Every check, in the order a delivery meets them; later ones only when the session is usable."""
    settings = Settings.from_config(config)
    report = Report()
    if check_port_protocol(settings, report):
        host = open_session(settings, report)
        if host is not None:
            try:
                if check_login(settings, host, report):
                    check_sender(settings, host, report)
            finally:
                _quit(host)
    if resolve is not None:
        check_dns(settings.sender, resolve, report)
    return report


def _quit(host: smtplib.SMTP) -> None:
    """End the session politely; a server already gone is fine."""
    try:
        host.quit()
    except (smtplib.SMTPException, OSError):
        host.close()
