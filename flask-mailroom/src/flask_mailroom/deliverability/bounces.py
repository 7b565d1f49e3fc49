"""``flask mail bounces``: fetch the bounce mailbox over IMAP or POP3 and read its reports.

``MAIL_BOUNCES_URL`` names the mailbox: ``imaps://user:password@host[:port][/FOLDER]``,
``imap://...`` (STARTTLS when offered), ``pop3s://user:password@host[:port]`` or ``pop3://...``.
Reports (delivery-status notifications, complaint reports) are recorded and removed from the
mailbox; anything else is left there, read, for a person to look at.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import poplib
import re
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
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
        with contextlib.suppress(OSError):  # after a failed STLS the socket is already gone
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
    try:
        fetched = _read_maildrop(client, ingest)
    except BaseException:
        _quit(client, after_error=True)
        raise
    _quit(client, after_error=False)
    return fetched


def _read_maildrop(client: poplib.POP3, ingest: Ingest) -> Fetched:
    """Read each message: record and mark for deletion the reports."""
    seen = reports = recorded = 0
    for number, raw in _pop3_messages(client):
        seen += 1
        if dsn.read(raw):
            recorded += ingest(raw)
            reports += 1
            client.dele(number)
    return Fetched(seen, reports, recorded)


def _quit(client: poplib.POP3, after_error: bool) -> None:
    """QUIT, which deletes the reports recorded so far; after an error, quietly (that error tells)."""
    try:
        client.quit()
    except (OSError, poplib.error_proto):
        with contextlib.suppress(OSError):
            client.close()
        if not after_error:
            raise


def imap_mailbox(name: str) -> str:
    """A folder name as an IMAP quoted string, non-ASCII in modified UTF-7 (RFC 3501 5.1.3)."""

    def encode(match: re.Match[str]) -> str:
        """One run of non-ASCII characters: UTF-16 in base64 with "," for "/", between & and -."""
        data = base64.b64encode(match.group().encode("utf-16-be")).decode().rstrip("=")
        return "&" + data.replace("/", ",") + "-"

    text = re.sub(r"[^\x20-\x7e]+", encode, name.replace("&", "&-"))
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ok(answer: tuple[str, list[Any]], what: str) -> list[Any]:
    """The data of a tagged OK; IMAP4.error saying what failed otherwise."""
    kind, data = answer
    if kind != "OK":
        raise imaplib.IMAP4.error(f"{what}: {_text(data[-1] if data else kind)}")
    return data


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
        _ok(client.select(imap_mailbox(box.folder)), f"cannot open the folder {box.folder!r}")
    except BaseException:
        _drop(client)
        raise
    return client


def _drop(client: imaplib.IMAP4) -> None:
    """Close the connection without a word; after a failed STARTTLS its socket is already gone, and
    the error to tell is the one that brought us here."""
    with contextlib.suppress(OSError):
        client.shutdown()


def _unseen(client: imaplib.IMAP4) -> list[str]:
    """UIDs of the folder's unread messages that nobody deleted."""
    found = _ok(client.uid("SEARCH", "UNSEEN UNDELETED"), "cannot search the folder")
    return [uid.decode() for uid in (found[0] or b"").split()]


def _peek(client: imaplib.IMAP4, uid: str) -> bytes:
    """One message's bytes, leaving it unread (it is marked only once it has been handled)."""
    data = _ok(client.uid("FETCH", uid, "(BODY.PEEK[])"), f"cannot fetch message {uid}")
    return next((bytes(part[1]) for part in data if isinstance(part, tuple)), b"")


def _flag(client: imaplib.IMAP4, uid: str, flag: str) -> None:
    """Add a flag to one message."""
    _ok(client.uid("STORE", uid, "+FLAGS.SILENT", f"({flag})"), f"cannot flag message {uid}")


def _sign_out(client: imaplib.IMAP4, after_error: bool) -> None:
    """Remove the reports flagged deleted and sign out; after an error, quietly (that error tells)."""
    try:
        _ok(client.expunge(), "cannot remove the reports")
        client.logout()
    except (OSError, imaplib.IMAP4.error):
        _drop(client)
        if not after_error:
            raise


def _read_unseen(client: imaplib.IMAP4, ingest: Ingest) -> Fetched:
    """Read each unread message: record and flag deleted the reports, flag the rest read."""
    seen = reports = recorded = 0
    for uid in _unseen(client):
        raw = _peek(client, uid)
        seen += 1
        if dsn.read(raw):
            recorded += ingest(raw)
            reports += 1
            _flag(client, uid, "\\Deleted")
        else:
            _flag(client, uid, "\\Seen")
    return Fetched(seen, reports, recorded)


def fetch_imap(box: Mailbox, ingest: Ingest, context: ssl.SSLContext, timeout: float) -> Fetched:
    """Read unread messages; delete the reports, leave the rest marked as read. A message whose
    report could not be recorded stays unread, for the next run."""
    client = _imap(box, context, timeout)
    try:
        fetched = _read_unseen(client, ingest)
    except BaseException:
        _sign_out(client, after_error=True)
        raise
    _sign_out(client, after_error=False)
    return fetched


def _text(reason: object) -> str:
    """A server's reply as text (imaplib and poplib hand over bytes)."""
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)


def _reason(error: Exception) -> str:
    """What went wrong: the server's own words when it answered (not Python's b'...'), else the error."""
    if len(error.args) == 1 and isinstance(error.args[0], bytes):
        return _text(error.args[0])
    return str(error) or type(error).__name__


def fetch(url: str, ingest: Ingest, cafile: str | None, timeout: float) -> Fetched:
    """Fetch and read the bounce mailbox at ``url``; MailboxError when it cannot be read."""
    box = Mailbox.parse(url)
    context = ssl.create_default_context(cafile=cafile)
    reader = fetch_imap if box.scheme.startswith("imap") else fetch_pop3
    try:
        return reader(box, ingest, context, timeout)
    except (OSError, poplib.error_proto, imaplib.IMAP4.error) as error:
        raise MailboxError(f"cannot read {box.scheme}://{box.host}:{box.port}: {_reason(error)}") from None
