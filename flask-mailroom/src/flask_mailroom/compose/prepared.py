"""Prepared messages: laid out once, filled per copy.

An announcement goes to thousands of readers with the same subject, bodies and files; only a few
values are each reader's own (recipient, Message-ID, Date, unsubscribe link, the greeting's name).
``Prepared.of(message)`` takes a Message rendered once with ``slot(name)`` markers where those
values go, and lays out its finished bytes: every shared header encoded and folded once, both
bodies quoted-printable-encoded once, files base64-encoded once. ``fill`` joins those bytes with
one copy's values, each encoded for its place:

- To, Date, Message-ID and any header holding a marker are written per copy by the encoders a
  composed message uses (RFC 2047 encoded-words for names, folded lines);
- a body line holding a marker is quoted-printable-encoded per copy once its values are in
  (HTML-escaped in an HTML part); every other line was encoded once. Quoted-printable works line
  by line, so lines encoded apart make a valid body, each encoded line at most 76 characters;
- MIME boundaries are derived from the Message-ID, as for a composed message; "=_" never occurs in
  quoted-printable or base64, so no part can contain one.

The same Message-ID and Date always give the same bytes (a retry is byte-identical), and a part
without markers has the same bytes in every copy (what a DKIM signature covers does not change
beyond the reader's own values).
"""

from __future__ import annotations

import binascii
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import lru_cache, partial

from flask import current_app
from flask_mail import Message
from markupsafe import escape

from flask_mailroom.compose.headers import check_header_value
from flask_mailroom.compose.mime import (
    LINE,
    UNIQUE,
    address_list,
    attachment_part,
    derived_boundary,
    encoded_lines,
    envelope_sender,
    mailbox,
    unstructured,
)

Address = str | tuple[str, str]
# The recipient to compose a layout for (``compose`` wants one): never used, every copy brings its own.
LAYOUT_RECIPIENT = "reader@layout.invalid"
# A per-process nonce makes markers that no text written by a person contains.
NONCE = secrets.token_hex(6)
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_MARKER = re.compile(rf"S{NONCE}([a-z][a-z0-9_]*)E")
_MARKED = f"S{NONCE}".encode("ascii")


def slot(name: str) -> str:
    """The marker standing for the personal value ``name`` in a layout (letters, digits, ``_``);
    it survives HTML escaping and URL building unchanged."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"a slot name is lower-case letters, digits and _: {name!r}")
    return f"S{NONCE}{name}E"


@dataclass(frozen=True)
class Pattern:
    """Text with markers: literal text at even indexes, slot names at odd ones."""

    parts: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> Pattern:
        """Split ``text`` at its markers."""
        return cls(tuple(_MARKER.split(text)))

    @property
    def personal(self) -> bool:
        """Whether the text holds a marker."""
        return len(self.parts) > 1

    def apply(self, values: Mapping[str, str], html: bool = False) -> str:
        """The text with each marker replaced by its value (HTML-escaped when ``html``)."""
        out = list(self.parts)
        for index in range(1, len(out), 2):
            value = values[out[index]]
            out[index] = str(escape(value)) if html else value
        return "".join(out)


@dataclass(frozen=True)
class Filling:
    """One copy's own values: Message-ID, Date (a timestamp), recipient, slot values."""

    message_id: str
    date: float
    to: Address
    values: Mapping[str, str]
    boundaries: tuple[str, ...]


Piece = bytes | Callable[[Filling], bytes]
PART_HEADERS = ("Content-Type: text/{subtype}; charset=\"utf-8\"\r\n"
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n")


# --- what is filled per copy -------------------------------------------------------------------


def _line(name: str, value: str) -> bytes:
    """One header field, as bytes (UTF-8 only for an internationalised address)."""
    return f"{name}: {value}\r\n".encode()


def _to(copy: Filling) -> bytes:
    """The To header: the reader's name (encoded-words when needed) and address."""
    shown = copy.to[0] if isinstance(copy.to, tuple) else copy.to
    check_header_value("To", shown)
    return _line("To", address_list("To", [copy.to]))


@lru_cache(maxsize=64)
def _date(moment: float) -> bytes:
    """The Date header for a timestamp (every copy of a fan-out shares one)."""
    return _line("Date", format_datetime(datetime.fromtimestamp(moment, UTC)))


def _message_id(copy: Filling) -> bytes:
    """The Message-ID header."""
    return _line("Message-ID", check_header_value("Message-ID", copy.message_id))


def _header(name: str, pattern: Pattern, copy: Filling) -> bytes:
    """A header holding markers, filled, checked and encoded like any other."""
    value = check_header_value(name, pattern.apply(copy.values))
    return _line(name, unstructured(name, value))


def _boundary(index: int, copy: Filling) -> bytes:
    """The copy's boundary of the ``index``-th multipart part."""
    return copy.boundaries[index].encode("ascii")


def _body_line(pattern: Pattern, html: bool, copy: Filling) -> bytes:
    """A body line holding markers, filled and quoted-printable-encoded (a value's own line breaks
    become lines of the body, never a bare CR or LF)."""
    data = pattern.apply(copy.values, html).encode("utf-8")
    return binascii.b2a_qp(b"\r\n".join(data.splitlines()) + b"\r\n", istext=True)


# --- laying out --------------------------------------------------------------------------------


def quoted_printable(lines: Sequence[bytes]) -> bytes:
    """Lines of a body in quoted-printable, CRLF after each (soft breaks keep lines at 76)."""
    return binascii.b2a_qp(b"".join(line + b"\r\n" for line in lines), istext=True) if lines else b""


def body_pieces(content: str, html: bool) -> list[Piece]:
    """A text part's body: runs of shared lines encoded now, each line with a marker per copy."""
    pieces: list[Piece] = []
    shared: list[bytes] = []
    for line in content.encode("utf-8").splitlines() or [b""]:
        if _MARKED not in line:
            shared.append(line)
            continue
        pieces.append(quoted_printable(shared))
        shared = []
        pieces.append(partial(_body_line, Pattern.of(line.decode("utf-8")), html))
    pieces.append(quoted_printable(shared))
    return pieces


def text_part(subtype: str, content: str) -> list[Piece]:
    """A whole text part: its headers, then its body."""
    return [PART_HEADERS.format(subtype=subtype).encode("ascii"), *body_pieces(content, subtype == "html")]


def multipart(subtype: str, index: int, children: Sequence[list[Piece]]) -> list[Piece]:
    """A multipart part around ``children``; its boundary is the copy's ``index``-th (numbered
    outermost first, as for a composed message)."""
    mark = partial(_boundary, index)
    pieces: list[Piece] = [f"Content-Type: multipart/{subtype};\r\n boundary=\"".encode("ascii"),
                           mark, b"\"\r\n\r\n"]
    for number, child in enumerate(children):
        pieces += [b"\r\n--" if number else b"--", mark, b"\r\n", *child]
    return [*pieces, b"\r\n--", mark, b"--\r\n"]


def header_pieces(message: Message, whole: bool) -> list[Piece]:
    """Subject, From, To, Cc, Reply-To, Date, Message-ID and the extra headers (one given again
    replaces one that may appear once), each shared or a slot; ``whole``: the message's own To,
    Date and Message-ID, else the copy's."""
    fields: dict[str, tuple[str, Piece]] = {}
    if message.subject:
        fields["subject"] = ("Subject", header_piece("Subject", message.subject))
    fields["from"] = ("From", _line("From", mailbox(message.sender)))
    fields["to"] = ("To", _line("To", address_list("To", list(message.recipients))) if whole else _to)
    if whole and not message.recipients:
        del fields["to"]
    if message.cc:
        fields["cc"] = ("Cc", _line("Cc", address_list("Cc", list(message.cc))))
    if message.reply_to:
        fields["reply-to"] = ("Reply-To", _line("Reply-To", mailbox(message.reply_to)))
    fields["date"] = ("Date", _date(own_date(message)) if whole else _date_of)
    fields["message-id"] = ("Message-ID", _line("Message-ID", message.msgId) if whole else _message_id)
    pieces = [piece for _, piece in fields.values()]
    for name, value in (message.extra_headers or {}).items():
        if name.lower() in UNIQUE and name.lower() in fields:
            pieces.remove(fields.pop(name.lower())[1])
        pieces.append(header_piece(name, value))
    return [*pieces, b"MIME-Version: 1.0\r\n"]


def own_date(message: Message) -> float:
    """The message's Date as a timestamp (now when it has none)."""
    return float(message.date) if message.date else time.time()


def _date_of(copy: Filling) -> bytes:
    """The Date header of the copy."""
    return _date(copy.date)


def header_piece(name: str, value: str) -> Piece:
    """A header encoded now, or per copy when it holds a marker."""
    pattern = Pattern.of(check_header_value(name, value))
    return partial(_header, name, pattern) if pattern.personal else _line(name, unstructured(name, value))


def own_body(subtype: str, content: str, texts: list[str]) -> list[Piece]:
    """A text part without markers, in the transfer encoding the email package would pick: 7bit
    when it is short-lined ASCII (its text then kept in ``texts``, for the boundaries), else the
    shorter of quoted-printable and base64."""
    lines = content.encode("utf-8").splitlines() or [b""]
    data = b"".join(line + b"\r\n" for line in lines)
    if data.isascii() and max(len(line) for line in lines) <= LINE:
        texts.append(data.decode("ascii"))
        encoding, body = "7bit", data
    else:
        quoted, based = quoted_printable(lines), encoded_lines(data) + b"\r\n"
        encoding, body = ("base64", based) if len(quoted) > len(based) else ("quoted-printable", quoted)
    head = PART_HEADERS.replace("quoted-printable", encoding).format(subtype=subtype)
    return [head.encode("ascii"), body]


def content_pieces(message: Message, texts: list[str] | None) -> tuple[list[Piece], int]:
    """The MIME structure (text and HTML as alternatives, files after them) and how many
    boundaries it has; with ``texts``, a whole message's parts (their 7bit texts kept there)."""
    alternatives = dict(message.alts)
    html_only = message.body is None and "html" in alternatives
    contents = ([] if html_only else [("plain", message.body or "")]) + list(alternatives.items())
    bodies = [text_part(subtype, content) if texts is None else own_body(subtype, content, texts)
              for subtype, content in contents]
    ascii_only = bool(current_app.config.get("MAIL_ASCII_ATTACHMENTS"))
    files: list[list[Piece]] = [[attachment_part(item, ascii_only)] for item in message.attachments]
    nested = len(bodies) > 1
    first = 1 if files else 0
    inner = multipart("alternative", first, bodies) if nested else bodies[0]
    if not files:
        return inner, int(nested)
    return multipart("mixed", 0, [inner, *files]), 1 + int(nested)


def coalesced(pieces: Sequence[Piece]) -> tuple[Piece, ...]:
    """Adjacent shared bytes joined into one piece, empty ones dropped."""
    out: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, bytes) and out and isinstance(out[-1], bytes):
            out[-1] += piece
        elif not isinstance(piece, bytes) or piece:
            out.append(piece)
    return tuple(out)


class Prepared:
    """A message laid out once; ``fill`` gives one copy's finished bytes."""

    def __init__(self, pieces: Sequence[Piece], boundaries: int, sender: str, subject: str,
                 texts: Sequence[str] = ()) -> None:
        """Use ``Prepared.of``; ``texts``: the 7bit parts a boundary must not occur in."""
        self.pieces = coalesced(pieces)
        self.boundaries = boundaries
        self.sender = sender
        self.subject = subject
        self.texts = list(texts)
        shared = b"".join(p for p in self.pieces if isinstance(p, bytes))
        if _MARKED in shared:
            raise ValueError("a slot marker is in a place that cannot be filled per copy "
                             "(From, Cc, Reply-To or a file)")

    @classmethod
    def of(cls, message: Message) -> Prepared:
        """Lay out ``message`` (rendered with ``slot`` markers for what is personal; its own
        recipients, Message-ID and Date are ignored: every copy brings its own)."""
        content, boundaries = content_pieces(message, None)
        return cls([*header_pieces(message, False), *content], boundaries, envelope_sender(message),
                   message.subject or "")

    def subject_of(self, values: Mapping[str, str]) -> str:
        """The subject of a copy with ``values`` (for the operator's views)."""
        return Pattern.of(self.subject).apply(values)

    def fill(self, *, message_id: str, date: float, to: Address, values: Mapping[str, str]) -> bytes:
        """One copy's bytes: ``to`` (an address or ``(name, address)``), its Message-ID, the Date
        (a timestamp) and a value for every slot; the same arguments give the same bytes."""
        boundaries = tuple(derived_boundary(message_id, index, self.texts)
                           for index in range(self.boundaries))
        copy = Filling(message_id, date, to, values, boundaries)
        return b"".join([piece if isinstance(piece, bytes) else piece(copy) for piece in self.pieces])


def message_bytes(message: Message) -> bytes:
    """A whole message (no markers) as it goes on the wire, written directly rather than through
    the email package's objects: the same headers, encodings and boundaries; the same bytes for
    the same Message-ID and Date."""
    texts: list[str] = []
    content, boundaries = content_pieces(message, texts)
    laid_out = Prepared([*header_pieces(message, True), *content], boundaries, "", "", texts)
    return laid_out.fill(message_id=str(message.msgId), date=own_date(message), to="", values={})
