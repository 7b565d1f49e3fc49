"""Announcement copies filled from a layout made once per language: 10,000 copies in two languages,
each its reader's own (recipient, Message-ID, unsubscribe link that opens that reader's page), no
reader's data in another's copy, a retry byte-identical, and the meaning of a copy rendered whole."""

from __future__ import annotations

import binascii
import re
import secrets
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from flask_mailroom.compose import deferred
from flask_mailroom.models.outbox import COLUMNS, Claimed
from markupsafe import escape
from sqlalchemy import event, insert, select

from mailroom.extensions import db
from mailroom.models import OutboxMessage, User
from mailroom.services import announcements
from mailroom.services.announcement_copies import build_copy
from mailroom.state import now

COPIES = 10_000
# Every copy's headers are parsed (compat32: the modern header registry costs ~2 ms a message) and
# its bodies decoded; every this many copies, and every tricky name, is parsed whole by the modern
# policy as well.
SAMPLE = 97
PARSER = BytesParser(policy=policy.default)
HEADERS = BytesHeaderParser(policy=policy.compat32)
LINK = re.compile(r"https://mailroom\.test/unsubscribe/([A-Za-z0-9_%-]+)")
ADDRESS = re.compile(r"[A-Za-z0-9._+-]+@example\.com")
# Names that force encoded-words, quoting and folded lines (names hold at most 64 characters).
TRICKY = ["Zoë Ångström", "王小明" * 19, 'Smith, "Jo"', "=?utf-8?q?evil?=", "x" * 58, "a, b (c) " * 6]


def reader_name(number: int) -> str:
    """A name for reader ``number``: mostly plain, some that force encoded-words or long lines."""
    if number % 50 == 0:
        return f"{TRICKY[(number // 50) % len(TRICKY)]} {number}"
    return f"读者{number}" if number % 2 else f"reader{number}"


def add_readers(app: Flask, count: int) -> dict[str, dict[str, Any]]:
    """Insert ``count`` subscribed readers, every other one reading Simplified Chinese."""
    with app.app_context():
        rows = [{"username": reader_name(i), "username_key": f"r{i}", "email": f"reader{i}@example.com",
                 "email_key": f"reader{i}@example.com", "password_hash": "x", "email_confirmed": True,
                 "created_at": now(), "is_admin": False, "subscribed": True,
                 "language": "zh_Hans" if i % 2 else "en",
                 "unsubscribe_token": secrets.token_urlsafe(24)} for i in range(count)]
        db.session.execute(insert(User), rows)
        db.session.commit()
    return {row["email"]: row for row in rows}


def announce(app: Flask) -> int:
    """An announcement with a Simplified Chinese version, fanned out."""
    version = {"subject": "春天的消息", "text_body": "万物生长。", "html_body": "<p>万物生长。</p>"}
    with app.app_context():
        announcement = announcements.create("Spring news", "Things are growing.",
                                            versions={"zh_Hans": version})
        announcements.send(announcement.id)
        return int(announcement.id)


def filled_copies(app: Flask, announcement_id: int) -> list[tuple[Claimed, bytes]]:
    """Every copy as the worker fills it, screened in claim-sized batches."""
    with app.app_context():
        rows = [Claimed(*row) for row in db.session.execute(
            select(*COLUMNS).where(OutboxMessage.announcement_id == announcement_id)
            .order_by(OutboxMessage.id))]
        out = []
        for start in range(0, len(rows), 500):
            for row in deferred.screen_copies(rows[start:start + 500]):
                built = deferred.materialize(row, "tests")
                assert built is not None
                out.append((row, built.raw))
        return out


def decoded(value: str) -> str:
    """A header value with its encoded-words decoded as RFC 2047 says (adjacent ones joined)."""
    return str(make_header(decode_header(value)))


def bodies(raw: bytes, message: Message) -> list[str]:
    """The text of each body part, through its transfer encoding."""
    boundary = message.get_param("boundary", header="content-type")
    assert isinstance(boundary, str)
    texts = []
    for part in raw.split(f"--{boundary}".encode())[1:-1]:
        head, _, payload = part.partition(b"\r\n\r\n")
        assert b"Content-Transfer-Encoding: quoted-printable" in head
        texts.append(binascii.a2b_qp(payload).decode("utf-8"))
    return texts


def check_copy(row: Claimed, raw: bytes, reader: dict[str, Any]) -> None:
    """Everything in the copy is its reader's own, and nobody else's is in it."""
    message = HEADERS.parsebytes(raw)
    token, email = reader["unsubscribe_token"], reader["email"]
    [(name, address)] = getaddresses(message.get_all("To", []))
    assert (decoded(name), address) == (reader["username"], email)
    assert message["Message-ID"] == row.message_id
    assert message["List-Unsubscribe"] == f"<https://mailroom.test/unsubscribe/{token}>"
    chinese = reader["language"] == "zh_Hans"
    assert decoded(message["Subject"]) == ("春天的消息" if chinese else "Spring news")
    text, html = bodies(raw, message)
    assert ("万物生长。" if chinese else "Things are growing.") in text
    assert reader["username"] in text
    assert str(escape(reader["username"])) in html
    for body in (text, html):
        assert set(LINK.findall(body)) == {token}
        assert set(ADDRESS.findall(body)) == {email}


def check_whole(raw: bytes, reader: dict[str, Any]) -> None:
    """The copy parsed by the modern policy: recipient, link and name in both bodies."""
    whole = PARSER.parsebytes(raw)
    assert whole["To"].addresses[0].addr_spec == reader["email"]
    assert whole["List-Unsubscribe"] == f"<https://mailroom.test/unsubscribe/{reader['unsubscribe_token']}>"
    for subtype in ("plain", "html"):
        part = whole.get_body(preferencelist=(subtype,))
        assert part is not None
        assert set(LINK.findall(part.get_content())) == {reader["unsubscribe_token"]}


def test_every_copy_of_a_ten_thousand_copy_announcement_is_its_readers_own(
        app: Flask, client: FlaskClient) -> None:
    readers = add_readers(app, COPIES)
    announcement_id = announce(app)
    copies = filled_copies(app, announcement_id)
    assert len(copies) == COPIES
    assert len({row.message_id for row, _ in copies}) == COPIES
    for row, raw in copies:
        check_copy(row, raw, readers[row.recipients[0]])
    for number, (row, raw) in enumerate(copies):
        if number % SAMPLE == 0 or number % 50 == 0:
            check_whole(raw, readers[row.recipients[0]])
    with app.app_context():
        for row, raw in copies[::SAMPLE * 5]:
            assert deferred.materialize(row, "tests").raw == raw  # type: ignore[union-attr]
    for row, _ in copies[:: COPIES // 8]:
        reader = readers[row.recipients[0]]
        page = client.get(f"/unsubscribe/{reader['unsubscribe_token']}")
        assert page.status_code == 200
        assert reader["email"] in page.get_data(as_text=True)


def summary(message: EmailMessage) -> list[tuple[Any, ...]]:
    """Each part's type, headers (boundaries and transfer encodings aside) and content."""
    ignored = {"mime-version", "content-transfer-encoding"}
    return [(part.get_content_type(),
             sorted((k.lower(), str(v)) for k, v in part.items() if k.lower() not in ignored
                    and not (k.lower() == "content-type" and part.is_multipart())),
             None if part.is_multipart() else part.get_content()) for part in message.walk()]


def test_a_filled_copy_means_what_the_copy_rendered_whole_means(app: Flask) -> None:
    add_readers(app, 60)
    copies = filled_copies(app, announce(app))
    with app.app_context():
        for row, raw in copies[::7]:
            whole = deferred.render(row, build_copy(row.recipients[0], row.meta["params"]))
            assert summary(PARSER.parsebytes(raw)) == summary(PARSER.parsebytes(whole.raw))


def test_a_reader_who_unsubscribed_after_the_fan_out_is_skipped_by_the_batch_screen(app: Flask) -> None:
    readers = add_readers(app, 6)
    announcement_id = announce(app)
    gone = readers["reader3@example.com"]["unsubscribe_token"]
    with app.app_context():
        announcements.set_subscribed(gone, False)
        rows = [Claimed(*row) for row in db.session.execute(select(*COLUMNS).where(
            OutboxMessage.announcement_id == announcement_id))]
        screened = deferred.screen_copies(rows)
        built = {row.recipients[0]: deferred.materialize(row, "tests") for row in screened}
    skipped = [row.recipients[0] for row in screened if row.meta["screened"] == "skip"]
    assert skipped == ["reader3@example.com"]
    assert [address for address, copy in built.items() if copy is None] == ["reader3@example.com"]


def test_a_claimed_batch_is_screened_with_one_query_and_filled_with_none(app: Flask) -> None:
    add_readers(app, 40)
    announcement_id = announce(app)
    statements: list[str] = []
    with app.app_context():
        rows = [Claimed(*row) for row in db.session.execute(select(*COLUMNS).where(
            OutboxMessage.announcement_id == announcement_id))]
        deferred.materialize(rows[0], "tests")  # lays the English and Chinese layouts out
        deferred.materialize(rows[1], "tests")
        def record(*args: Any) -> None:
            """Keep each statement's text."""
            statements.append(args[2])

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            built = [deferred.materialize(row, "tests") for row in deferred.screen_copies(rows)]
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
    assert all(copy is not None for copy in built)
    queries = [text for text in statements if not text.startswith("BEGIN")]  # SQLite's own
    assert len(queries) == 1
    assert "users" in queries[0]

