"""Prepared messages: laid out once, filled per copy; every copy parses back as its reader's own,
means what a message composed for that reader means, and is the same bytes on every attempt."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from flask import Flask
from markupsafe import escape

from flask_mailroom import HeaderInjection, Mail, Message
from flask_mailroom.compose import Prepared, slot
from flask_mailroom.compose.mime import wire_bytes
from flask_mailroom.compose.outbox import Attachment, Envelope, build_message
from flask_mailroom.compose.parse import addresses
from flask_mailroom.compose.prepared import message_bytes

PARSER = BytesParser(policy=policy.default)
IGNORED = frozenset({"mime-version", "content-transfer-encoding"})
DATE = 1_772_442_000.0
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40
CHINESE = "春天来了，花都开了。这是一封很长的公告，内容都是中文。" * 6
NAMES = [
    "Ann",
    "Zoë Ångström",
    "王小明",
    "x" * 300,
    'Smith, "Jo" <boss@example.com>',
    "=?utf-8?b?Ym9i?=",
    "=?utf-8?q?a=0D=0ABcc:_x@y?=",
    "名字" * 80,
    "a b " * 80,
    "trailing space ",
]


@pytest.fixture
def context() -> Iterator[Flask]:
    """An application context: the layout reads the mail settings."""
    app = Flask("prepared")
    app.config.update(SERVER_NAME="mailroom.test", MAIL_DEFAULT_SENDER="noreply@mailroom.test",
                      MAILROOM_DATABASE_URL="sqlite://", MAIL_WORKER_INPROCESS=False)
    Mail(app, cli_group=None)
    with app.app_context():
        yield app


def layout_texts(name: str, token: str, email: str) -> dict[str, Any]:
    """The parts of an announcement, with the given values (markers, or a reader's own)."""
    link = f"https://mailroom.test/unsubscribe/{token}"
    return {
        "subject": "Spring news 春天",
        "body": f"Hello {name},\n\n{CHINESE}\n\n-- \nSent to {email}.\nLeave: {link}\n",
        "html": f'<p>Hello {name},</p>\n<div>{CHINESE}</div>\n<p>{email} <a href="{link}">Leave</a></p>\n',
        "headers": {"Precedence": "bulk", "List-Unsubscribe": f"<{link}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    }


def message_with(name: str, token: str, email: str, files: bool = True) -> Message:
    """The announcement as a Message; the HTML values escaped as a template would."""
    texts = layout_texts(name, token, email)
    html = layout_texts(str(escape(name)), token, str(escape(email)))["html"]
    envelope = Envelope(subject=texts["subject"], recipients=[("Layout", "layout@mailroom.test")],
                        sender=("Mailroom", "noreply@mailroom.test"), extra_headers=texts["headers"],
                        attachments=[Attachment("notes.pdf", "application/pdf", PDF)] if files else ())
    return build_message(envelope, texts["body"], html)


def layout(files: bool = True) -> Prepared:
    """The announcement laid out with markers for the name, the token and the address."""
    return Prepared.of(message_with(slot("name"), slot("token"), slot("email"), files))


def fill(prepared: Prepared, name: str, token: str, number: int = 1) -> bytes:
    """One reader's copy."""
    email = f"reader{number}@example.com"
    return prepared.fill(message_id=f"<{number}.copy@mailroom.test>", date=DATE, to=(name, email),
                         values={"name": name, "token": token, "email": email})


def parsed(raw: bytes) -> EmailMessage:
    """Bytes parsed back by the standard library."""
    message = PARSER.parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def content(message: EmailMessage, subtype: str) -> str:
    """The text of the body of that subtype."""
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None
    text = part.get_content()
    assert isinstance(text, str)
    return text


def summary(message: EmailMessage) -> list[tuple[Any, ...]]:
    """Every part's type, headers (boundaries, transfer encodings and MIME-Version aside) and
    content, to compare meaning."""
    out = []
    for part in message.walk():
        headers = sorted((k.lower(), str(v)) for k, v in part.items() if k.lower() not in IGNORED
                         and not (k.lower() == "content-type" and part.is_multipart()))
        out.append((part.get_content_type(), headers, None if part.is_multipart() else part.get_content()))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_a_copy_parses_back_with_its_readers_own_values(context: Flask, name: str) -> None:
    raw = fill(layout(), name, "tok_EN-1234567890abcdefghij", 7)
    message = parsed(raw)
    [mailbox] = message["To"].addresses
    assert mailbox.addr_spec == "reader7@example.com"
    # The header registry keeps the space folding puts between encoded-words (RFC 2047 says to drop
    # it); the standard library's RFC 2047 decoder, which our own reader uses, drops it.
    assert addresses(message, "To") == [(name.strip(), "reader7@example.com")]
    if name.isascii() and "=?" not in name:
        assert mailbox.display_name == name.strip()
    assert message["Message-ID"] == "<7.copy@mailroom.test>"
    assert message["List-Unsubscribe"] == "<https://mailroom.test/unsubscribe/tok_EN-1234567890abcdefghij>"
    assert message["Subject"] == "Spring news 春天"
    text, html = content(message, "plain").replace("\r\n", "\n"), content(message, "html")
    assert text.startswith(f"Hello {name},\n\n{CHINESE}\n")
    assert "Sent to reader7@example.com.\nLeave: https://mailroom.test/unsubscribe/tok_EN-" in text
    assert f"<p>Hello {escape(name)},</p>" in html
    assert 'href="https://mailroom.test/unsubscribe/tok_EN-1234567890abcdefghij"' in html
    assert [a.get_content() for a in message.iter_attachments()] == [PDF]
    head, _, body = raw.partition(b"\r\n\r\n")
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    assert [line for line in body.split(b"\r\n") if len(line) > 76] == []
    if max(len(word) for word in name.split(" ")) < 60:  # one word cannot be folded
        to = re.search(rb"^To: .*?\r\n(?! )", raw, re.M | re.S)
        assert to is not None
        assert max(len(line) for line in to.group(0).split(b"\r\n")) <= 78
    assert raw.isascii()
    assert not message.defects
    assert all(not part.defects for part in message.walk())


@pytest.mark.parametrize("name", ["Eve\r\nBcc: spy@example.com", "Eve\nBcc: spy@example.com", "Eve\x00"])
def test_a_name_that_would_break_a_header_line_is_refused(context: Flask, name: str) -> None:
    with pytest.raises(HeaderInjection):
        fill(layout(), name, "token")


def test_a_retry_is_byte_identical_and_copies_share_every_part_without_a_slot(context: Flask) -> None:
    prepared = layout()
    first = fill(prepared, "王小明", "tokenA", 1)
    assert fill(prepared, "王小明", "tokenA", 1) == first
    assert fill(layout(), "王小明", "tokenA", 1) == first
    other = fill(prepared, "Ann", "tokenB", 2)
    assert b"tokenA" not in other
    assert "王小明".encode() not in other
    assert b"reader1@" not in other
    attachment = [p.as_bytes() for p in parsed(first).iter_attachments()]
    assert attachment == [p.as_bytes() for p in parsed(other).iter_attachments()]
    boundaries = set(re.findall(rb'boundary="([^"]+)"', first))
    assert len(boundaries) == 2
    assert not boundaries & set(re.findall(rb'boundary="([^"]+)"', other))


@pytest.mark.parametrize("files", [True, False])
@pytest.mark.parametrize("name", ["Ann", "Zoë Ångström", 'Smith, "Jo"', "名字" * 40])
def test_a_filled_copy_means_what_the_message_composed_for_its_reader_means(
        context: Flask, name: str, files: bool) -> None:
    token, email = "tok-123_ABC", "reader3@example.com"
    filled = fill(layout(files), name, token, 3)
    composed = message_with(name, token, email, files)
    composed.recipients = [(name, email)]
    composed.msgId, composed.date = "<3.copy@mailroom.test>", DATE
    assert summary(parsed(filled)) == summary(parsed(wire_bytes(composed)))


def test_a_marker_where_nothing_is_filled_is_refused(context: Flask) -> None:
    message = message_with("Ann", "t", "a@example.com")
    message.sender = (slot("name"), "noreply@mailroom.test")
    with pytest.raises(ValueError, match="cannot be filled"):
        Prepared.of(message)


def whole_messages() -> list[Message]:
    """Messages of every shape: plain, Chinese, long lines, files, replaced headers, HTML only."""
    plain = build_message(Envelope(recipients=["a@example.com"], subject="Hi"), "Hello\nworld", None)
    chinese = build_message(Envelope(
        recipients=[("Zoë Ünïcode, Jr.", "b@example.com"), "c@example.com"], cc=["d@example.com"],
        reply_to="r@example.com", subject="你好 Mailroom " * 8,
        extra_headers={"X-Thing": "value", "Subject": "replaced"}), "你好，世界\n" * 30, "<p>你好</p>")
    long_lines = build_message(Envelope(recipients=[("x" * 120, "b@example.com")], subject="y" * 200),
                               "line " + "z" * 300 + "\n.dot\n=equals", "<p>" + "a" * 200 + "</p>")
    files = build_message(Envelope(recipients=["a@example.com"], subject="files", attachments=[
        Attachment("ä.pdf", "application/pdf", PDF * 3), Attachment("s.txt", "text/plain", b"small")]),
        "body", "<b>x</b>")
    empty = build_message(Envelope(recipients=['"quoted=?utf-8?q?x?=" <q@example.com>']), "", None)
    html_only = build_message(Envelope(recipients=["a@example.com"]), "x", "<p>only</p>")
    html_only.body = None
    return [plain, chinese, long_lines, files, empty, html_only]


def test_a_whole_message_written_directly_means_what_the_email_package_writes(context: Flask) -> None:
    for message in whole_messages():
        direct = message_bytes(message)
        assert summary(parsed(direct)) == summary(parsed(wire_bytes(message)))
        assert direct == message_bytes(message)
        assert max(len(line) for line in direct.split(b"\r\n")) <= 998
