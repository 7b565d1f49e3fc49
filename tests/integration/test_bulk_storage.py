"""Announcements stored once: each copy's row keeps only what is personal, the worker renders it
at delivery, and every attempt sends the same bytes."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest
from flask import Flask
from flask_mailroom.clock import FrozenClock
from flask_mailroom.compose.mime import SPLICE_FROM, render_mime, wire_bytes
from flask_mailroom.compose.outbox import Attachment, Envelope, build_message
from sqlalchemy import func, select

from mailroom.extensions import db
from mailroom.models import Announcement, AnnouncementAttachment
from mailroom.services import announcements
from tests.support.announcements import add_users, bytes_sent, outbox, user_named
from tests.support.smtp import Received, SMTPServer

BLOB = os.urandom(200_000)
FILES = [Attachment("report.pdf", "application/pdf", BLOB),
         Attachment("notes.txt", "text/plain", "Prices: 5 €\n".encode())]


def fan_out(app: Flask, files: list[Attachment] = FILES) -> int:
    """Store an announcement with ``files`` and queue its copies; its id."""
    with app.app_context():
        announcement = announcements.create("Quarterly report", "Please find the report attached.",
                                            markdown="The **report** is attached.", attachments=files)
        announcements.send(announcement.id)
        return int(announcement.id)


def to(address: str) -> Callable[[Received], bool]:
    """Messages received for ``address``."""
    return lambda m: m.rcpt_tos == [address]


def test_copies_keep_only_what_is_personal_and_the_files_are_stored_once(app: Flask) -> None:
    add_users(app, 3)
    announcement_id = fan_out(app)
    rows = outbox(app)
    assert len(rows) == 3
    for row in rows:
        assert (row.raw, row.template, row.kind) == (b"", "announcement", "bulk")
        assert row.subject == "Quarterly report"
        assert row.meta["params"]["announcement"] == announcement_id
        assert len(json.dumps(row.meta)) < 200
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(AnnouncementAttachment)) == 2
    # The same row rendered twice, later, gives the same bytes: nothing random, nothing "now".
    first = bytes_sent(app, rows[0])
    assert BLOB[:57] not in first  # the file travels base64-encoded
    assert bytes_sent(app, rows[0]) == first
    assert bytes_sent(app, rows[1]) != first


def test_a_copy_sent_again_after_a_4xx_is_byte_identical(app: Flask, smtp: SMTPServer, clock: FrozenClock,
                                                       deliver: Callable[[], int]) -> None:
    add_users(app, 2, "reader")
    fan_out(app)
    smtp.fail_data("450 4.2.1 Mailbox busy, try again later")  # 451 would only slow the sender
    assert deliver() == 2
    [refused] = smtp.rejected
    assert len(smtp.messages) == 1
    clock.advance(hours=2)
    assert deliver() == 1
    [again] = smtp.find(to(refused.rcpt_tos[0]))
    assert again.data == refused.data
    assert again.message["Message-ID"] == refused.message["Message-ID"]
    assert all(row.status == "sent" and row.raw == b"" for row in outbox(app))


def test_each_reader_gets_their_own_greeting_and_unsubscribe_link_and_the_files_intact(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    add_users(app, 2, "reader")
    fan_out(app)
    deliver()
    assert len(smtp.wait_for(2)) == 2
    for name in ("reader0", "reader1"):
        [received] = smtp.find(to(f"{name}@example.com"))
        link = f"https://mailroom.test/unsubscribe/{user_named(app, name).unsubscribe_token}"
        message = received.message
        assert message["To"] == f"{name} <{name}@example.com>"
        assert message["List-Unsubscribe"].strip() == f"<{link}>"
        assert f"Hello {name}," in received.text()
        assert link in received.html()
        assert "<strong>report</strong>" in received.html()
        parts = list(message.iter_attachments())
        assert [p.get_filename() for p in parts] == ["report.pdf", "notes.txt"]
        assert [p.get_payload(decode=True) for p in parts] == [BLOB, "Prices: 5 €\n".encode()]


def test_copies_of_an_announcement_deleted_before_delivery_are_skipped(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    add_users(app, 2)
    announcement_id = fan_out(app, [])
    with app.app_context():
        db.session.delete(db.session.get(Announcement, announcement_id))
        db.session.commit()
    assert deliver() == 2
    assert smtp.messages == []
    assert [row.status for row in outbox(app)] == ["skipped", "skipped"]


@pytest.mark.parametrize("app_config", [{"OUTBOX_BATCH_SIZE": 3}])
def test_a_re_run_queues_only_the_missing_copies_in_bulk(app: Flask, smtp: SMTPServer,
                                                        deliver: Callable[[], int]) -> None:
    add_users(app, 4)
    with app.app_context():
        announcement_id = announcements.create("News", "Hello.").id
        first = announcements.send(announcement_id, batch_size=3)
    add_users(app, 2, "late")
    with app.app_context():
        second = announcements.send(announcement_id, batch_size=3)
    assert (first.queued, second.queued, second.already_queued) == (4, 2, 4)
    assert deliver() == 6
    assert sorted(m.rcpt_tos[0] for m in smtp.wait_for(6)) == sorted(
        [f"user{i}@example.com" for i in range(4)] + ["late0@example.com", "late1@example.com"])


def test_a_run_that_wrongly_thinks_it_is_first_still_queues_no_second_copy(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    add_users(app, 5)
    with app.app_context():
        announcement_id = announcements.create("News", "Hello.").id
        assert announcements.send(announcement_id, batch_size=2).queued == 5
        # As if a second run had looked before the first one committed anything.
        monkeypatch.setattr(announcements, "_copies_exist", lambda _: False)
        again = announcements.send(announcement_id, batch_size=2)
    assert (again.queued, again.already_queued) == (0, 5)
    assert len(outbox(app)) == 5


@pytest.mark.parametrize("size", [0, 57, SPLICE_FROM - 1, SPLICE_FROM, SPLICE_FROM + 1, 300_001])
def test_large_files_spliced_in_give_the_bytes_the_email_package_gives(app: Flask, size: int) -> None:
    data = os.urandom(size)
    envelope = Envelope(subject="Files", recipients=["a@example.com"], attachments=[
        Attachment("a.bin", "application/octet-stream", data), Attachment("b.txt", "text/plain", data)])
    with app.app_context():
        message = build_message(envelope, "Text.", "<p>HTML.</p>")
        assert wire_bytes(message) == render_mime(message).as_bytes()
        assert wire_bytes(message) == wire_bytes(message)


def test_a_reader_who_unsubscribes_after_the_fan_out_is_skipped(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    add_users(app, 2)
    fan_out(app, [])
    with app.app_context():
        announcements.set_subscribed(user_named(app, "user1").unsubscribe_token, False)
    assert deliver() == 2
    assert [m.rcpt_tos for m in smtp.wait_for(1)] == [["user0@example.com"]]
    assert {row.recipients[0]: row.status for row in outbox(app)} == {
        "user0@example.com": "sent", "user1@example.com": "skipped"}
