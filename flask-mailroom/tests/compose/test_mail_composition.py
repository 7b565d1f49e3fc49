"""Composition through the whole path: a template pair of the test app -> outbox row -> worker -> aiosmtpd."""

from __future__ import annotations

import re
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import pytest
from flask import Flask
from sqlalchemy import func, select

from flask_mailroom import AddressInvalid, HeaderInjection, Mail, Message, email_delivered
from flask_mailroom.compose.outbox import Attachment, Envelope, build_message, compose, queue, send_email
from flask_mailroom.compose.parse import message_from_raw
from flask_mailroom.queue import OutboxMessage
from flask_mailroom.store import db, now

from support.apps import HostBase, Note
from support.smtp import SMTPServer

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40
LONG_LINE = "word" * 600  # 2,400 characters on one line of the text body


def queue_full_message(app: Flask) -> OutboxMessage:
    """Queue a message using every part of the envelope, and commit."""
    with app.app_context():
        envelope = Envelope(
            subject="Ünïcödé résumé ✓ " + "long subject " * 20,
            recipients=[("Zoë Ångström", "zoe@example.com"), "plain@example.com"],
            sender=("Mailroom Sécurité", "security@mailroom.test"),
            cc=[("Çedric", "cedric@example.com")], bcc=["hidden@example.com"],
            reply_to=("Support Désk", "support@mailroom.test"),
            attachments=[Attachment("résumé.pdf", "application/pdf", PDF),
                         Attachment("notes.txt", "text/plain", "naïve notes\n".encode())],
            extra_headers={"X-Mailroom-Test": "yes", "X-Long": "token " * 300},
        )
        message = compose("test", envelope, sent_at=now(), address="zoe@example.com",
                          site_url="https://mailroom.test/" + LONG_LINE)
        row = queue(message, template="test")
        db.session.commit()
        db.session.refresh(row)
        db.session.expunge(row)
        return row


def test_a_full_message_arrives_intact(app: Flask, smtp: SMTPServer,
                                       deliver: Callable[[], int]) -> None:
    row = queue_full_message(app)
    assert deliver() == 1
    [received] = smtp.wait_for(1)
    message = received.message

    assert received.mail_from == "security@mailroom.test"
    assert sorted(received.rcpt_tos) == sorted(["zoe@example.com", "plain@example.com",
                                                "cedric@example.com", "hidden@example.com"])
    assert "hidden@example.com" not in received.data.decode("ascii")
    assert message["Bcc"] is None
    assert str(message["Subject"]) == "Ünïcödé résumé ✓ " + "long subject " * 20
    assert message["From"].addresses[0].display_name == "Mailroom Sécurité"
    assert {(a.display_name, a.addr_spec) for a in message["To"].addresses} == {
        ("Zoë Ångström", "zoe@example.com"), ("", "plain@example.com")}
    assert message["Cc"].addresses[0].display_name == "Çedric"
    assert message["Reply-To"].addresses[0].addr_spec == "support@mailroom.test"
    assert message["X-Mailroom-Test"] == "yes"
    assert str(message["X-Long"]).split() == ["token"] * 300
    assert message["Message-ID"] == row.message_id
    assert re.fullmatch(r"<[^@<>\s]+@mailroom\.test>", row.message_id)
    assert parsedate_to_datetime(message["Date"]) == now_of(app)

    assert message.get_content_type() == "multipart/mixed"
    assert "This is a test message from the minimal app" in received.text()
    assert LONG_LINE in received.text()
    assert "<strong>test message</strong>" in received.html()
    assert message.get_body(preferencelist=("html",)).get_content_type() == "text/html"
    files = {part.get_filename(): part for part in message.iter_attachments()}
    assert files["résumé.pdf"].get_content() == PDF
    assert files["résumé.pdf"].get_content_type() == "application/pdf"
    assert files["notes.txt"].get_payload(decode=True) == "naïve notes\n".encode()
    assert files["notes.txt"].get_content_type() == "text/plain"

    lines = received.data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    assert all(byte < 128 for byte in received.data), "the message is 7-bit clean"


def now_of(app: Flask) -> object:
    """The app's (frozen) time, to the second as a Date header carries it."""
    with app.app_context():
        return now().replace(microsecond=0)


def test_send_email_renders_the_pair_with_absolute_links(app: Flask, smtp: SMTPServer,
                                                          deliver: Callable[[], int]) -> None:
    with app.app_context():
        send_email("test", ("Ann", "ann@example.com"), sent_at=now(),
                   address="ann@example.com", site_url="https://mailroom.test/")
        db.session.commit()
    deliver()
    [received] = smtp.wait_for(1)
    assert received.message["To"].addresses[0].display_name == "Ann"
    assert received.rcpt_tos == ["ann@example.com"]
    assert received.message["From"].addresses[0].addr_spec == "noreply@mailroom.test"
    assert 'href="https://mailroom.test/"' in received.html()


def test_a_rolled_back_transaction_leaves_no_row_and_sends_nothing(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    with app.app_context():
        HostBase.metadata.create_all(db.engine)
        db.session.add(Note(text="the host's own row"))
        send_email("test", "bob@example.com", sent_at=now(), address="bob", site_url="/")
        db.session.flush()
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        assert db.session.scalar(select(func.count()).select_from(Note)) == 0
    assert deliver() == 0
    assert smtp.messages == []


INJECTIONS = [
    pytest.param({"subject": "Hi\r\nBcc: victim@example.com"}, id="subject"),
    pytest.param({"subject": "Hi\nX-Evil: 1"}, id="subject-lf"),
    pytest.param({"recipients": [("Eve\r\nBcc: victim@example.com", "eve@example.com")]}, id="name"),
    pytest.param({"recipients": ["eve@example.com\r\nBcc: victim@example.com"]}, id="address"),
    pytest.param({"cc": ["x@example.com\nBcc: v@example.com"]}, id="cc"),
    pytest.param({"sender": ("Evil\rInc", "evil@example.com")}, id="sender-name"),
    pytest.param({"reply_to": "a@example.com\nBcc: v@example.com"}, id="reply-to"),
    pytest.param({"extra_headers": {"X-Tag": "ok\r\nBcc: victim@example.com"}}, id="extra-value"),
    pytest.param({"extra_headers": {"X-Tag\r\nBcc": "victim@example.com"}}, id="extra-name"),
    pytest.param({"extra_headers": {"X Tag": "v"}}, id="extra-name-space"),
    pytest.param({"attachments": [Attachment("a\r\nb.txt", "text/plain", b"x")]}, id="filename"),
    pytest.param({"subject": "Hi\u2028there"}, id="unicode-line-separator"),
    *[pytest.param({"subject": f"Hi{mark}Bcc: victim@example.com"}, id=f"subject-{ord(mark):#x}")
      for mark in "\x0b\x0c\x1c\x1d\x1e\x85"],
    pytest.param({"extra_headers": {"X-Tag": "a\x1eX-Evil: 1"}}, id="extra-value-record-separator"),
    pytest.param({"recipients": [("Eve\x0cBcc: v@example.com", "eve@example.com")]}, id="name-form-feed"),
]


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("fields", INJECTIONS)
def test_header_injection_is_refused_before_anything_is_stored(app: Flask,
                                                               fields: dict[str, object]) -> None:
    values: dict[str, object] = {"subject": "Hello", "recipients": ["ann@example.com"], **fields}
    with app.app_context():
        with pytest.raises(HeaderInjection):
            compose("test", Envelope(**values), sent_at=now(), address="x", site_url="/")  # type: ignore[arg-type]
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_a_message_changed_after_composing_is_checked_again_when_queued(app: Flask) -> None:
    with app.app_context():
        message = compose("test", Envelope(subject="Hi", recipients=["ann@example.com"]),
                          sent_at=now(), address="x", site_url="/")
        message.extra_headers = {"X-Tag": "a\nBcc: victim@example.com"}
        with pytest.raises(HeaderInjection):
            queue(message)
        message.extra_headers = {}
        message.add_recipient("b@example.com\r\nX-Evil: 1")
        with pytest.raises(HeaderInjection):
            queue(message)
        assert not db.session.new


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("address", ["not an address", "a@example.com, b@example.com", ""])
def test_malformed_addresses_are_refused(app: Flask, address: str) -> None:
    with app.app_context(), pytest.raises(AddressInvalid):
        compose("test", Envelope(subject="Hi", recipients=[address]), sent_at=now(), address="x",
                site_url="/")


def test_record_messages_captures_at_send_time_and_the_worker_signals_the_delivery(
        app: Flask, mail: Mail, deliver: Callable[[], int]) -> None:
    assert app.config["MAIL_SUPPRESS_SEND"] is True
    with app.app_context(), mail.record_messages() as recorded:
        row = queue_full_message(app)
    [sent] = recorded
    assert (sent.msgId, sent.subject) == (row.message_id, row.subject)
    delivered: list[Message] = []
    with email_delivered.connected_to(lambda sender, message: delivered.append(message), app):
        assert deliver() == 1
    [message] = delivered
    assert message.subject.startswith("Ünïcödé résumé")
    assert ("Zoë Ångström", "zoe@example.com") in message.recipients
    assert message.bcc == ["hidden@example.com"]
    assert message.cc == [("Çedric", "cedric@example.com")]
    assert message.reply_to == ("Support Désk", "support@mailroom.test")
    assert "This is a test message" in (message.body or "")
    assert "<strong>test message</strong>" in (message.html or "")
    assert [a.filename for a in message.attachments] == ["résumé.pdf", "notes.txt"]
    assert message.attachments[0].data == PDF
    assert (message.extra_headers or {})["X-Mailroom-Test"] == "yes"
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage.status)) == "sent"


def test_suppressed_sending_marks_sent_without_any_connection(app: Flask, smtp: SMTPServer,
                                                             deliver: Callable[[], int]) -> None:
    app.config["MAIL_SUPPRESS_SEND"] = True
    queue_full_message(app)
    assert deliver() == 1
    assert smtp.connections == 0
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage.status)) == "sent"


EW = "=?utf-8?q?x=0D=0ABcc:_victim@example.com=0D=0AX-Evil:_1?="
ENCODED_WORD_INJECTIONS = [
    pytest.param({"subject": EW}, id="subject"),
    pytest.param({"subject": "Ünï " + EW}, id="subject-non-ascii"),
    pytest.param({"extra_headers": {"X-Tag": EW}}, id="extra-header"),
    pytest.param({"recipients": [(EW, "ann@example.com")]}, id="display-name"),
    pytest.param({"sender": (EW, "noreply@mailroom.test")}, id="sender-name"),
    pytest.param({"attachments": [Attachment(EW + ".txt", "text/plain", b"x")]}, id="filename"),
    pytest.param({"attachments": [Attachment("a.txt", f'text/plain; name="{EW}"', b"x")]},
                 id="content-type"),
    pytest.param({"recipients": ["=?utf-8?q?x=0D=0AX-Evil:_1?=@example.com"]}, id="local-part"),
]


@pytest.mark.parametrize("fields", ENCODED_WORD_INJECTIONS)
def test_encoded_words_cannot_smuggle_line_breaks_into_headers(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int], fields: dict[str, object]) -> None:
    values: dict[str, object] = {"subject": "Hello", "recipients": ["ann@example.com"], **fields}
    with app.app_context():
        queue(compose("test", Envelope(**values), sent_at=now(), address="x", site_url="/"))  # type: ignore[arg-type]
        db.session.commit()
    assert deliver() == 1
    [received] = smtp.wait_for(1)
    assert "victim@example.com" not in received.rcpt_tos
    lines = received.data.split(b"\r\n")
    assert not [line for line in lines if line.lower().startswith((b"bcc:", b"x-evil:"))]
    if "subject" in fields:
        assert str(received.message["Subject"]) == fields["subject"]


def test_internationalised_addresses_go_out_with_smtputf8(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    with app.app_context():
        envelope = Envelope(subject="Bienvenue", recipients=[("José", "josé@example.com"),
                                                             "用户@例子.广告"],
                            cc=["user@bücher.example"])
        queue(compose("test", envelope, sent_at=now(), address="x", site_url="/"))
        db.session.commit()
    assert deliver() == 1
    [received] = smtp.wait_for(1)
    chinese_domain = "例子.广告".encode("idna").decode("ascii")
    assert sorted(received.rcpt_tos) == sorted(["josé@example.com", f"用户@{chinese_domain}",
                                                "user@xn--bcher-kva.example"])
    assert "<josé@example.com>, 用户@".encode() in received.data, "RFC 6532: the address in UTF-8"
    with app.app_context():
        delivered = message_from_raw(received.data, received.rcpt_tos)
    assert delivered.recipients == [("José", "josé@example.com"), f"用户@{chinese_domain}"]
    assert delivered.cc == ["user@xn--bcher-kva.example"]
    assert delivered.bcc == []
    lines = received.data.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998


def test_a_server_without_smtputf8_fails_such_a_message_and_delivers_the_rest(
        app: Flask, deliver: Callable[[], int]) -> None:
    server = SMTPServer(enable_SMTPUTF8=False).start()
    try:
        app.config.update(server.config())
        with app.app_context():
            for address in ("josé@example.com", "jose@example.com"):
                queue(build_message(Envelope(subject="Hi", recipients=[address]), "x\n", None))
            db.session.commit()
        deliver()
        assert [m.rcpt_tos for m in server.wait_for(1)] == [["jose@example.com"]]
        assert db_values(app) == [("failed", "SMTPUTF8"), ("sent", None)]
    finally:
        server.stop()


def db_values(app: Flask) -> list[tuple[str, str | None]]:
    """(status, whether the error mentions SMTPUTF8) of each row."""
    with app.app_context():
        rows = db.session.execute(select(OutboxMessage.status, OutboxMessage.last_error)
                                  .order_by(OutboxMessage.id)).all()
    return [(status, "SMTPUTF8" if error and "SMTPUTF8" in error else None) for status, error in rows]
