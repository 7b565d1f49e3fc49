"""Render a Flask-Mail Message as MIME: 7-bit, every line short, and no header a reader can split.

Flask-Mail 0.10 writes bodies unwrapped (lines over 998 octets) and refolds long headers by
parsing them again. So does the standard library's header registry, which also decodes RFC 2047
encoded-words it meets anywhere (even inside addresses and quoted strings): an ASCII subject such
as ``=?utf-8?q?a=0D=0ABcc:_x@y?=`` comes out as two header lines. Here every top-level header is
written by us, already encoded and folded, and stored raw with a policy that never refolds it;
bodies and attachments use the modern API, which picks quoted-printable or base64 as needed.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import unicodedata
from datetime import UTC, datetime
from email import policy
from email.header import Header
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, quote
from functools import lru_cache

from flask import current_app
from flask_mail import Attachment as MailAttachment
from flask_mail import Message

from flask_mailroom.errors import AddressInvalid, HeaderInjection

POLICY = policy.SMTP.clone(cte_type="7bit", refold_source="none")
# Internationalised addresses (RFC 6531/6532) cannot be encoded: their headers go out as UTF-8,
# and the transport asks the server for SMTPUTF8.
UTF8_POLICY = POLICY.clone(utf8=True)
LINE = 78
LONGEST_WORD = 900
_SPACES = re.compile(r"\s+")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u00a0-\U0010ffff-]"
_DOT_ATOM = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}|\[[0-9A-Fa-f:.]+\]")
_LOCAL = re.compile(r"[^\s\x00-\x1f\x7f-\x9f<>]+")
_TOKEN = re.compile(r"[A-Za-z0-9!#$&^_.+-]+")
# Attachments from this size on are base64-encoded in one C call and spliced into the bytes, not
# pushed line by line through the email package (a 1 MB file: ~200 ms of CPU saved per message).
SPLICE_FROM = 4096
# Encoded files kept per process (keyed by the identity of their bytes, which they also hold).
ENCODED_KEPT = 4
_ENCODED: dict[int, tuple[bytes, bytes]] = {}
_ENCODED_LOCK = threading.Lock()
UNIQUE = frozenset({"subject", "from", "to", "cc", "reply-to", "date", "message-id", "sender"})


# --- addresses ---------------------------------------------------------------------------------


def split_address(value: str | tuple[str, str]) -> tuple[str, str]:
    """``(display name, address)`` from ``(name, addr)``, ``"Name <addr>"`` or ``"addr"``."""
    if isinstance(value, tuple):
        name, addr = value
        return name.strip(), envelope_form(addr.strip())
    return _split_text(value)


@lru_cache(maxsize=1024)
def _split_text(value: str) -> tuple[str, str]:
    """``split_address`` of a string, remembered: the same sender is parsed for every message, and
    the email package's parser costs more than the rest of the header checks."""
    found = getaddresses([value])
    # The parser drops what it cannot use ("a@exa mple.com" comes back as "a@example.com").
    if len(found) != 1 or not found[0][1] or found[0][1] not in value:
        raise AddressInvalid(f"not one email address: {value!r}")
    name, addr = found[0]
    return name.strip(), envelope_form(addr.strip())


def envelope_form(addr: str) -> str:
    """The address as the SMTP envelope carries it: domain in IDNA form; AddressInvalid if unusable."""
    local, at, domain = addr.rpartition("@")
    if not at or not local or not _LOCAL.fullmatch(local) or "<" in local or ">" in local:
        raise AddressInvalid(f"not a valid email address: {addr!r}")
    if not domain.isascii():
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            raise AddressInvalid(f"not a valid domain: {domain!r}") from None
    if not _DOMAIN.fullmatch(domain):
        raise AddressInvalid(f"not a valid domain: {domain!r}")
    return f"{local}@{domain}"


def bare_address(value: str | tuple[str, str]) -> str:
    """The address alone, as it goes on the SMTP envelope."""
    return split_address(value)[1]


def envelope_sender(message: Message) -> str:
    """MAIL FROM: the bounce address when one is configured (bounces come back there), else From."""
    return str(current_app.config.get("MAIL_BOUNCE_ADDRESS") or bare_address(message.sender))


def header_address_spec(addr: str) -> str:
    """The address for a header; a local part that is not a plain dot-atom, or could pass for an
    encoded-word, is quoted."""
    local, _, domain = addr.rpartition("@")
    if _DOT_ATOM.fullmatch(local) and "=?" not in local:
        return addr
    unquoted = local[1:-1] if len(local) > 1 and local[0] == local[-1] == '"' else local
    return f'"{quote(unquoted)}"@{domain}'


def display_name(name: str) -> str:
    """A display name as it goes in a header: plain or quoted when ASCII (folded at its own spaces),
    else encoded-words (RFC 2047), folded so that no line passes LINE characters."""
    if name.isascii() and "=?" not in name and max(len(w) for w in name.split(" ")) <= LONGEST_WORD:
        return fold_words("Reply-To", name if _PHRASE.fullmatch(name) else f'"{quote(name)}"')
    return Header(name, "utf-8", maxlinelen=LINE - 8).encode(linesep="\r\n")


def mailbox(value: str | tuple[str, str]) -> str:
    """One mailbox, ready for an address header; the address goes on a line of its own when it
    would make the name's last line too long."""
    name, addr = split_address(value)
    spec = header_address_spec(addr)
    if not name:
        return spec
    shown = display_name(name)
    last = shown.rpartition("\r\n")[2]
    return f"{shown} <{spec}>" if len(last) + len(spec) + 8 <= LINE else f"{shown}\r\n <{spec}>"


def address_list(name: str, values: list[str | tuple[str, str]]) -> str:
    """Several mailboxes: on one line when it fits, else one per line."""
    boxes = [mailbox(v) for v in values]
    one_line = ", ".join(boxes)
    return one_line if len(name) + 2 + len(one_line) <= LINE else ",\r\n ".join(boxes)


# --- unstructured headers ----------------------------------------------------------------------


def fold_words(name: str, value: str) -> str:
    """ASCII text folded at spaces so that lines stay near LINE characters."""
    lines: list[str] = []
    first, *rest = value.split(" ")
    current = first
    width = len(name) + 2
    for word in rest:
        # Never break before an empty word: leading, trailing and doubled spaces stay as given.
        if current and word and width + len(current) + 1 + len(word) > LINE:
            lines.append(current)
            current, width = word, 1
        else:
            current = f"{current} {word}"
    lines.append(current)
    return "\r\n ".join(lines)


def unstructured(name: str, value: str) -> str:
    """Free text for a header: as is when plain ASCII, else encoded-words, folded either way."""
    words = value.split(" ")
    if value.isascii() and "=?" not in value and max(len(w) for w in words) <= LONGEST_WORD:
        return fold_words(name, value)
    return Header(value, "utf-8", header_name=name).encode(linesep="\r\n")


# --- the message -------------------------------------------------------------------------------


def set_header(mime: EmailMessage, name: str, value: str) -> None:
    """Store a finished header value; one given again replaces one that may appear only once."""
    if len(value.replace("\r\n ", " ").splitlines()) > 1:
        raise HeaderInjection(f"{name} would be split over several header lines")
    if name.lower() in UNIQUE and name in mime:
        del mime[name]
    mime.set_raw(name, value)


def _headers(mime: EmailMessage, message: Message) -> None:
    """Subject, addresses, Date, Message-ID and the extra headers."""
    if message.subject:
        set_header(mime, "Subject", unstructured("Subject", message.subject))
    set_header(mime, "From", mailbox(message.sender))
    for name, values in (("To", message.recipients), ("Cc", message.cc)):
        if values:
            set_header(mime, name, address_list(name, list(values)))
    if message.reply_to:
        set_header(mime, "Reply-To", mailbox(message.reply_to))
    moment = datetime.fromtimestamp(message.date, UTC) if message.date else datetime.now(UTC)
    set_header(mime, "Date", format_datetime(moment))
    set_header(mime, "Message-ID", message.msgId)
    for name, value in (message.extra_headers or {}).items():
        set_header(mime, name, unstructured(name, value))


def _bodies(mime: EmailMessage, message: Message) -> None:
    """The text part, then each alternative (HTML), as multipart/alternative when there are several."""
    alternatives = dict(message.alts)
    if message.body is None and "html" in alternatives:
        mime.set_content(alternatives.pop("html"), subtype="html")
    else:
        mime.set_content(message.body or "")
    for subtype, content in alternatives.items():
        mime.add_alternative(content, subtype=subtype)


def attachment_name(filename: str, ascii_only: bool) -> str | tuple[str, str, str]:
    """The file name as sent: RFC 2231-encoded unless plain ASCII; with MAIL_ASCII_ATTACHMENTS,
    folded to ASCII as Flask-Mail does."""
    if ascii_only:
        filename = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
        filename = _SPACES.sub(" ", filename).strip()
    if filename.isascii() and "=?" not in filename:
        return filename
    return ("utf-8", "", filename)


def content_type_parts(content_type: str) -> tuple[str, str, dict[str, str]]:
    """``type/subtype`` and a plain ``charset`` parameter; anything malformed is octet-stream."""
    main, _, rest = content_type.partition(";")
    maintype, _, subtype = main.strip().lower().partition("/")
    if not (_TOKEN.fullmatch(maintype) and _TOKEN.fullmatch(subtype)):
        return "application", "octet-stream", {}
    charset = re.fullmatch(r'\s*charset="?([A-Za-z0-9_.:-]+)"?\s*', rest, re.I)
    return maintype, subtype, {"charset": charset.group(1)} if charset else {}


def _encoded_once(data: bytes) -> bytes:
    """``encoded_lines(data)``, remembered for the last few files: every copy of an announcement
    shares the same bytes object, so its files are encoded once per worker process."""
    with _ENCODED_LOCK:
        found = _ENCODED.get(id(data))
        if found is not None and found[0] is data:
            return found[1]
        encoded = encoded_lines(data)
        while len(_ENCODED) >= ENCODED_KEPT:
            del _ENCODED[next(iter(_ENCODED))]
        _ENCODED[id(data)] = (data, encoded)
        return encoded


def encoded_lines(data: bytes) -> bytes:
    """``data`` in base64 as the email package writes it: 76 characters a line, CRLF between lines."""
    encoded = base64.b64encode(data)
    return b"\r\n".join([encoded[start:start + 76] for start in range(0, len(encoded), 76)])


def _attach(mime: EmailMessage, item: MailAttachment, ascii_only: bool,
            spliced: dict[bytes, bytes] | None = None) -> None:
    """Add one attachment, base64-encoded; with ``spliced``, a large one is added as a placeholder
    line whose real encoded form is recorded there, to be put in place by ``wire_bytes``."""
    data = item.data.encode("utf-8") if isinstance(item.data, str) else bytes(item.data)
    if spliced is not None and len(data) >= SPLICE_FROM:
        placeholder = secrets.token_bytes(48)
        spliced[encoded_lines(placeholder)] = _encoded_once(data)
        data = placeholder
    maintype, subtype, params = content_type_parts(item.content_type)
    name = attachment_name(item.filename, ascii_only) if item.filename else None
    mime.add_attachment(data, maintype=maintype, subtype=subtype, filename=name,
                        disposition=item.disposition, params=params)
    parts = mime.get_payload()
    assert isinstance(parts, list)
    assert isinstance(parts[-1], EmailMessage)
    for key, value in item.headers.items():
        parts[-1].set_raw(key, unstructured(key, value))


def attachment_part(item: MailAttachment, ascii_only: bool) -> bytes:
    """One attachment as a finished MIME part (headers, base64 body), to lay out once and reuse."""
    holder = EmailMessage(policy=POLICY)
    spliced: dict[bytes, bytes] = {}
    _attach(holder, item, ascii_only, spliced)
    parts = holder.get_payload()
    assert isinstance(parts, list)
    assert isinstance(parts[-1], EmailMessage)
    raw = parts[-1].as_bytes(policy=POLICY)
    for placeholder, encoded in spliced.items():
        raw = raw.replace(placeholder, encoded, 1)
    return raw


def needs_utf8(message: Message) -> bool:
    """Whether an address of the message has a non-ASCII local part."""
    everyone = [message.sender, *message.send_to] + ([message.reply_to] if message.reply_to else [])
    return not all(bare_address(a).isascii() for a in everyone)


def derived_boundary(seed: str, index: int, texts: list[str]) -> str:
    """The first boundary derived from (seed, index) that occurs in none of ``texts``."""
    salt = 0
    while True:
        digest = hashlib.sha256(f"{seed}\x00{index}\x00{salt}".encode()).hexdigest()[:32]
        # "=_" never occurs in base64 or quoted-printable; only a 7-bit text part could hold it.
        if not any(f"=_{digest}" in text for text in texts):
            return f"=_{digest}"
        salt += 1


def stable_boundaries(mime: EmailMessage, seed: str) -> None:
    """Give every multipart part a boundary derived from ``seed`` (the Message-ID), so that
    rendering the same message again gives the same bytes."""
    texts = [str(part.get_payload()) for part in mime.walk() if not part.is_multipart()]
    for index, part in enumerate(p for p in mime.walk() if p.is_multipart()):
        part.set_boundary(derived_boundary(seed, index, texts))


def _render(message: Message, spliced: dict[bytes, bytes] | None) -> EmailMessage:
    """Headers, bodies and attachments, with boundaries derived from the Message-ID."""
    mime = EmailMessage(policy=UTF8_POLICY if needs_utf8(message) else POLICY)
    _headers(mime, message)
    _bodies(mime, message)
    ascii_only = bool(current_app.config.get("MAIL_ASCII_ATTACHMENTS"))
    for item in message.attachments:
        _attach(mime, item, ascii_only, spliced)
    stable_boundaries(mime, str(message.msgId))
    return mime


def render_mime(message: Message) -> EmailMessage:
    """The whole message: headers, bodies and attachments, with boundaries from its Message-ID."""
    return _render(message, None)


def wire_bytes(message: Message) -> bytes:
    """``render_mime(message).as_bytes()``, with large attachments encoded in one go and spliced in
    (the same bytes: the same Message-ID always gives the same result)."""
    spliced: dict[bytes, bytes] = {}
    raw = _render(message, spliced).as_bytes()
    for placeholder, encoded in spliced.items():
        raw = raw.replace(placeholder, encoded, 1)
    return raw

