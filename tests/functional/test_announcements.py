"""Announcements: fan-out to confirmed, subscribed users, dedupe on re-run, unsubscribe headers,
attachments delivered intact, and account email first."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from flask import Flask
from flask_mailroom.compose.outbox import Attachment, Envelope, build_message, queue

from mailroom.extensions import db
from mailroom.models import Announcement, User
from mailroom.services import announcement_preview, announcements
from tests.support.announcements import add_users, outbox, rendered, user_named
from tests.support.smtp import SMTPServer


@pytest.fixture
def people(make_user: Callable[..., User]) -> dict[str, User]:
    """Two who receive announcements, one unconfirmed and one unsubscribed who do not."""
    made = {name: make_user(name, f"{name}@example.com", confirmed=name != "carol")
            for name in ("alice", "bob", "carol", "dave")}
    return made


def unsubscribe(app: Flask, username: str) -> None:
    """Turn announcements off for one user, as the unsubscribe link does."""
    with app.app_context():
        announcements.set_subscribed(user_named(app, username).unsubscribe_token, False)


def announce(app: Flask, subject: str = "Spring news", **extra: object) -> int:
    """Store an announcement and return its id."""
    with app.app_context():
        return int(announcements.create(subject, "Things are growing.", **extra).id)  # type: ignore[arg-type]


def send(app: Flask, announcement_id: int, **options: object) -> announcements.FanOut:
    """Fan an announcement out."""
    with app.app_context():
        return announcements.send(announcement_id, **options)  # type: ignore[arg-type]


def test_fan_out_queues_one_personalised_copy_per_confirmed_subscribed_user(
        app: Flask, people: dict[str, User]) -> None:
    unsubscribe(app, "dave")
    announcement_id = announce(app)
    result = send(app, announcement_id)
    assert (result.recipients, result.queued, result.already_queued, result.not_eligible) == (2, 2, 0, 2)
    rows = outbox(app)
    assert sorted(r.recipients[0] for r in rows) == ["alice@example.com", "bob@example.com"]
    for row in rows:
        name = row.recipients[0].split("@")[0]
        token = user_named(app, name).unsubscribe_token
        message = rendered(app, row)
        assert (row.kind, row.priority, row.announcement_id) == ("bulk", 100, announcement_id)
        assert row.dedupe_key == f"announcement:{announcement_id}:user:{people[name].id}"
        assert message["List-Unsubscribe"].strip() == f"<https://mailroom.test/unsubscribe/{token}>"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        assert text is not None
        assert html is not None
        assert f"Hello {name}," in text.get_content()
        assert f"https://mailroom.test/unsubscribe/{token}" in html.get_content()
    with app.app_context():
        stored = db.session.get(Announcement, announcement_id)
        assert (stored.status, stored.recipients_total, stored.queued_count) == ("queued", 2, 2)


def test_a_re_run_after_a_crash_sends_nobody_a_second_copy(app: Flask) -> None:
    ids = add_users(app, 7)
    announcement_id = announce(app)

    def crash(count: int) -> None:
        raise RuntimeError("worker machine lost power")

    with pytest.raises(RuntimeError):
        send(app, announcement_id, batch_size=3, progress=crash)
    assert len(outbox(app)) == 3
    with app.app_context():
        assert db.session.get(Announcement, announcement_id).status == "sending"

    resumed = send(app, announcement_id, batch_size=3)
    assert (resumed.recipients, resumed.queued, resumed.already_queued) == (7, 4, 3)
    again = send(app, announcement_id, batch_size=3)
    assert (again.queued, again.already_queued) == (0, 7)
    keys = [r.dedupe_key for r in outbox(app)]
    assert sorted(keys) == sorted(f"announcement:{announcement_id}:user:{i}" for i in ids)


def test_users_who_join_after_a_send_get_it_when_it_is_sent_again(app: Flask) -> None:
    add_users(app, 2, "early")
    announcement_id = announce(app)
    send(app, announcement_id)
    add_users(app, 1, "late")
    result = send(app, announcement_id)
    assert (result.queued, result.already_queued) == (1, 2)
    assert sorted(r.recipients[0] for r in outbox(app)) == [
        "early0@example.com", "early1@example.com", "late0@example.com"]


def test_an_unsubscribed_user_is_skipped_but_still_gets_account_email(
        app: Flask, people: dict[str, User], smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    unsubscribe(app, "bob")
    send(app, announce(app))
    with app.app_context():
        account_mail = build_message(Envelope(subject="Your password was changed",
                                              recipients=["bob@example.com"]), "It was changed.", None)
        queue(account_mail)
        db.session.commit()
    deliver()
    received = smtp.wait_for(3)
    by_recipient = {m.rcpt_tos[0]: m for m in received}
    assert len(received) == 3
    assert sorted(by_recipient) == ["alice@example.com", "bob@example.com", "dave@example.com"]
    bob = by_recipient["bob@example.com"].message
    assert bob["Subject"] == "Your password was changed"
    assert bob["List-Unsubscribe"] is None
    assert bob["List-Unsubscribe-Post"] is None
    assert by_recipient["alice@example.com"].message["List-Unsubscribe"] is not None


@pytest.mark.parametrize("app_config", [{"OUTBOX_BATCH_SIZE": 2, "MAIL_CONNECTIONS": 1}])
def test_account_email_is_delivered_before_an_announcement_queued_earlier(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    add_users(app, 6)
    send(app, announce(app))
    with app.app_context():
        queue(build_message(Envelope(subject="Reset your password",
                                     recipients=["user3@example.com"]), "Here is your link.", None))
        db.session.commit()
    assert deliver() == 7
    received = smtp.wait_for(7)
    assert [m.message["Subject"] for m in received] == ["Reset your password"] + ["Spring news"] * 6


def test_attachments_arrive_intact(app: Flask, people: dict[str, User], smtp: SMTPServer,
                                   deliver: Callable[[], int]) -> None:
    blob = bytes(range(256)) * 64 + os.urandom(4096)
    text = "line one\r\nligne deux: é, ü, 漢字\n\x00 and a NUL".encode()
    files = [Attachment("data.bin", "application/octet-stream", blob),
             Attachment("résumé notes.txt", "text/plain", text)]
    send(app, announce(app, attachments=files))
    deliver()
    received = smtp.wait_for(3)
    assert sorted(m.rcpt_tos[0] for m in received) == [
        "alice@example.com", "bob@example.com", "dave@example.com"]
    for delivered in received:
        parts = list(delivered.message.iter_attachments())
        assert [p.get_filename() for p in parts] == ["data.bin", "résumé notes.txt"]
        assert [p.get_content_type() for p in parts] == ["application/octet-stream", "text/plain"]
        assert [p.get_payload(decode=True) for p in parts] == [blob, text]


def test_markdown_becomes_the_html_part_with_raw_html_escaped(app: Flask,
                                                             people: dict[str, User]) -> None:
    announcement_id = announce(app, markdown="# Hello\n\n**bold** <script>alert(1)</script>")
    send(app, announcement_id)
    html = rendered(app, outbox(app)[0]).get_body(preferencelist=("html",))
    assert html is not None
    content = html.get_content()
    assert "<h1>Hello</h1>" in content
    assert "<strong>bold</strong>" in content
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in content
    assert "<script>" not in content


def test_without_an_html_body_the_html_part_is_the_escaped_text(app: Flask,
                                                               people: dict[str, User]) -> None:
    with app.app_context():
        announcement_id = announcements.create("News", "a < b & <b>not bold</b>").id
    send(app, announcement_id)
    html = rendered(app, outbox(app)[0]).get_body(preferencelist=("html",))
    assert html is not None
    assert "a &lt; b &amp; &lt;b&gt;not bold&lt;/b&gt;" in html.get_content()


def test_preview_goes_to_one_person_and_is_not_the_real_send(app: Flask,
                                                            people: dict[str, User]) -> None:
    announcement_id = announce(app)
    with app.app_context():
        announcement_preview.send(announcement_id, user_named(app, "carol"))
        assert db.session.get(Announcement, announcement_id).status == "draft"
    [row] = outbox(app)
    assert row.recipients == ["carol@example.com"]
    assert row.subject == "[Preview] Spring news"
    assert (row.dedupe_key, row.announcement_id) == (None, None)
    assert rendered(app, row)["List-Unsubscribe"] is not None
    result = send(app, announcement_id)
    assert (result.queued, result.already_queued) == (3, 0)


@pytest.mark.parametrize(("subject", "text", "files", "field"), [
    ("", "body", [], "subject"),
    ("Hi\r\nBcc: everyone@example.com", "body", [], "subject"),
    ("s" * 201, "body", [], "subject"),
    ("Hi", "   ", [], "text_body"),
    ("Hi", "body", [Attachment(f"f{i}.txt", "text/plain", b"x") for i in range(11)], "attachments"),
    ("Hi", "body", [Attachment("big.bin", "application/octet-stream", b"x" * (5 * 2**20 + 1))],
     "attachments"),
    ("Hi", "body", [Attachment("evil\r\nX: y.txt", "text/plain", b"x")], "attachments"),
    ("Hi", "body", [Attachment("", "text/plain", b"x")], "attachments"),
])
def test_unusable_announcements_are_refused_naming_the_field(
        app: Flask, subject: str, text: str, files: list[Attachment], field: str) -> None:
    with app.app_context(), pytest.raises(announcements.AnnouncementError) as refused:
        announcements.create(subject, text, attachments=files)
    assert refused.value.field == field
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Announcement)) == 0


def test_a_stored_address_that_cannot_be_written_to_does_not_stop_the_others(app: Flask) -> None:
    add_users(app, 2, "fine")
    with app.app_context():
        db.session.execute(db.update(User).where(User.username_key == "fine0")
                           .values(email="broken\r\nBcc: x@example.com"))
        db.session.commit()
    add_users(app, 2, "after")
    result = send(app, announce(app))
    assert (result.recipients, result.queued, result.already_queued, result.unusable) == (4, 3, 0, 1)
    assert sorted(r.recipients[0] for r in outbox(app)) == [
        "after0@example.com", "after1@example.com", "fine1@example.com"]
