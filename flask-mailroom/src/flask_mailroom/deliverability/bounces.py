"""``flask mail bounces``: fetch the bounce mailbox over IMAP or POP3 and read its reports.

``MAIL_BOUNCES_URL`` names the mailbox: ``imaps://user:password@host[:port][/FOLDER]``,
``imap://...`` (STARTTLS when offered), ``pop3s://user:password@host[:port]`` or ``pop3://...``.
Reports (delivery-status notifications, complaint reports) are recorded and removed from the
mailbox; anything else is left there, read, for a person to look at.
"""

from __future__ import annotations

import imaplib
import poplib
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from flask_mailroom.deliverability import dsn

DEFAULT_PORTS = {"imap": 143, "imaps": 993, "pop3": 110, "pop3s": 995}


class MailboxError(Exception):
    """The bounce mailbox cannot be read; the text says why."""


@dataclass(frozen=True)
class Mailbox:
    """Where the bounce mailbox is."""

    scheme: str
    host: str
    port: int
    username: str
    password: str
    folder: str

    @classmethod
    def parse(cls, url: str) -> Mailbox:
        """Read MAIL_BOUNCES_URL; MailboxError naming what is wrong."""
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise MailboxError("MAIL_BOUNCES_URL must be imap://, imaps://, pop3:// or pop3s:// with a host")
        if not parts.username or parts.password is None:
            raise MailboxError("MAIL_BOUNCES_URL must carry the mailbox's user name and password")
        return cls(parts.scheme, parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme],
                   unquote(parts.username), unquote(parts.password),
                   unquote(parts.path.strip("/")) or "INBOX")


@dataclass(frozen=True)
class Fetched:
    """What one run did: messages seen, reports among them, address reports recorded."""

    messages: int
    reports: int
    recorded: int


Ingest = Callable[[bytes], int]


def _pop3(box: Mailbox, context: ssl.SSLContext, timeout: float) -> poplib.POP3:
    """A signed-in POP3 session (TLS as the scheme says)."""
    if box.scheme == "pop3s":
        client: poplib.POP3 = poplib.POP3_SSL(box.host, box.port, timeout=timeout, context=context)
    else:
        client = poplib.POP3(box.host, box.port, timeout=timeout)
    try:
        if box.scheme == "pop3" and "STLS" in client.capa():
            client.stls(context=context)
        client.user(box.username)
        client.pass_(box.password)
    except BaseException:
        client.close()
        raise
    return client


def _pop3_messages(client: poplib.POP3) -> Iterator[tuple[int, bytes]]:
    """Every message in the maildrop: (number, raw bytes)."""
    count, _ = client.stat()
    for number in range(1, count + 1):
        _, lines, _ = client.retr(number)
        yield number, b"\r\n".join(lines) + b"\r\n"


def fetch_pop3(box: Mailbox, ingest: Ingest, context: ssl.SSLContext, timeout: float) -> Fetched:
    """Read every message; delete the reports (POP3 has no 'seen', others stay as they are)."""
    client = _pop3(box, context, timeout)
    seen = reports = recorded = 0
    try:
        for number, raw in _pop3_messages(client):
            seen += 1
            if dsn.read(raw):
                recorded += ingest(raw)
                reports += 1
                client.dele(number)
    finally:
        client.quit()
    return Fetched(seen, reports, recorded)


def _imap(box: Mailbox, context: ssl.SSLContext, timeout: float) -> imaplib.IMAP4:
    """A signed-in IMAP session with the folder selected."""
    if box.scheme == "imaps":
        client: imaplib.IMAP4 = imaplib.IMAP4_SSL(box.host, box.port, ssl_context=context, timeout=timeout)
    else:
        client = imaplib.IMAP4(box.host, box.port, timeout=timeout)
    try:
        if box.scheme == "imap" and "STARTTLS" in client.capabilities:
            client.starttls(ssl_context=context)
        client.login(box.username, box.password)
        client.select(box.folder)
    except BaseException:
        client.shutdown()
        raise
    return client


def fetch_imap(box: Mailbox, ingest: Ingest, context: ssl.SSLContext, timeout: float) -> Fetched:
    """Read unseen messages; delete the reports, leave the rest marked as read."""
    client = _imap(box, context, timeout)
    seen = reports = recorded = 0
    try:
        _, found = client.search(None, "UNSEEN")
        for number in (found[0] or b"").split():
            _, data = client.fetch(number.decode(), "(RFC822)")
            raw = next((part[1] for part in data if isinstance(part, tuple)), b"")
            seen += 1
            if dsn.read(raw):
                recorded += ingest(raw)
                reports += 1
                client.store(number.decode(), "+FLAGS", "\\Deleted")
        client.expunge()
    finally:
        client.logout()
    return Fetched(seen, reports, recorded)


def fetch(url: str, ingest: Ingest, cafile: str | None, timeout: float) -> Fetched:
    """Fetch and read the bounce mailbox at ``url``; MailboxError when it cannot be read."""
    box = Mailbox.parse(url)
    context = ssl.create_default_context(cafile=cafile)
    reader = fetch_imap if box.scheme.startswith("imap") else fetch_pop3
    try:
        return reader(box, ingest, context, timeout)
    except (OSError, poplib.error_proto, imaplib.IMAP4.error) as error:
        raise MailboxError(f"cannot read {box.scheme}://{box.host}:{box.port}: {error}") from None
