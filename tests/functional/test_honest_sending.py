"""Honest sending on the admin's announcement pages: progress read from the outbox as it is (live, as
JSON), "added since" counting only those without a copy, a preview of each language version (and
"send me this version"), the confirmation's count per language, the greeting label, and the
address timeline newest first with its skipped and suppressed lines marked."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_mailroom.clock import FrozenClock
from flask_mailroom.deliverability import suppression as deliverability
from sqlalchemy import update

from mailroom.extensions import db
from mailroom.models import User
from mailroom.services import announcement_status, announcement_text, announcements
from tests.conftest import csrf_token
from tests.support.accounts import without_browser_check, without_signin_notices
from tests.support.announcements import add_users, outbox, rendered
from tests.support.crawl import duplicate_ids

VERSIONS = {"zh_Hans": ("春季消息", "万物生长。"), "zh_Hant": ("春季消息", "萬物生長。")}


@pytest.fixture
def admin(app: Flask, make_user: Callable[..., User], runner: FlaskCliRunner,
          login: Callable[..., Any]) -> User:
    """An admin made with the real command, signed in on the test client."""
    user = make_user("root", "root@example.com")
    assert runner.invoke(args=["users", "grant-admin", "root@example.com"]).exit_code == 0
    without_browser_check(app, "root@example.com")
    without_signin_notices(app, "root@example.com")
    login("root")
    return user


def announce(app: Flask, languages: tuple[str, ...] = ()) -> int:
    """A draft with a version in each of ``languages``; its id."""
    with app.app_context():
        versions = {lang: announcement_text.translated(lang, *VERSIONS[lang]) for lang in languages}
        return int(announcements.create("Spring news", "Things are growing.", versions=versions).id)


def speak(app: Flask, language: str, *user_ids: int) -> None:
    """Set the stored language of users."""
    with app.app_context():
        db.session.execute(update(User).where(User.id.in_(user_ids)).values(language=language))
        db.session.commit()


def post(client: FlaskClient, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    """POST a form with the session's CSRF token."""
    return client.post(path, data={"csrf_token": csrf_token(client), **(data or {})}, **kw)


def send_all(app: Flask, client: FlaskClient, announcement_id: int, count: int) -> None:
    """Confirm the mass send with ``count`` and wait for its background fan-out."""
    response = post(client, f"/admin/announcements/{announcement_id}/send", {"confirm_count": str(count)})
    assert response.status_code == 302, response.get_data(as_text=True)
    thread = announcements.running_fan_outs(app)[announcement_id]
    thread.join(timeout=30)
    assert not thread.is_alive()


def progress(client: FlaskClient, announcement_id: int) -> dict[str, Any]:
    """The progress JSON the page's script reads."""
    response = client.get(f"/admin/announcements/{announcement_id}/progress")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    return dict(response.json)


def text_of(page: str, element_id: str) -> str:
    """The text inside the element with that id (no nested tags)."""
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', page)
    assert found, element_id
    return found.group(1).strip()


def paragraph(page: str, element_id: str) -> str:
    """The text of the paragraph with that id, its inner tags taken out."""
    found = re.search(rf'<p id="{element_id}"[^>]*>(.*?)</p>', page, re.S)
    assert found, element_id
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


# --- progress, live and on load ------------------------------------------------------------------


def test_progress_is_read_from_the_outbox_until_every_copy_is_settled(
        app: Flask, client: FlaskClient, admin: User, deliver: Callable[[], int]) -> None:
    ids = add_users(app, 3)
    announcement_id = announce(app)
    send_all(app, client, announcement_id, 4)
    page = client.get(f"/admin/announcements/{announcement_id}").get_data(as_text=True)
    assert text_of(page, "progress-text") == "0 of 4 delivered, 4 on their way."
    assert 'data-finished="false"' in page
    assert "Refresh this page" not in page
    first = progress(client, announcement_id)
    assert first["message"] == "0 of 4 delivered, 4 on their way."
    assert (first["data"]["state"], first["data"]["finished"]) == ("sending", False)
    assert first["data"]["counts"]["queued"] == 4

    # One reader unsubscribes before the worker gets to their copy: it is skipped, not delivered.
    with app.app_context():
        db.session.execute(update(User).where(User.id == ids[0]).values(subscribed=False))
        db.session.commit()
    deliver()
    last = progress(client, announcement_id)
    assert last["message"] == "3 of 4 delivered, 1 not delivered."
    assert last["data"]["counts"] | {} == {"queued": 0, "sending": 0, "sent": 3, "failed": 0,
                                           "skipped": 1, "suppressed": 0, "expired": 0}
    assert (last["data"]["state"], last["data"]["label"], last["data"]["finished"]) == (
        "partly failed", "partly failed", True)
    assert last["data"]["percent_text"] == "Copies delivered or given up: 100%"
    page = client.get(f"/admin/announcements/{announcement_id}").get_data(as_text=True)
    assert text_of(page, "progress-text") == "3 of 4 delivered, 1 not delivered."
    assert text_of(page, "count-sent") == "3"
    assert text_of(page, "count-skipped") == "1"
    assert 'data-finished="true"' in page


def test_every_copy_delivered_reads_all_delivered_in_chinese_too(
        app: Flask, client: FlaskClient, admin: User, deliver: Callable[[], int]) -> None:
    add_users(app, 3)
    announcement_id = announce(app)
    send_all(app, client, announcement_id, 4)
    assert deliver() == 4
    assert progress(client, announcement_id)["message"] == "4 of 4 delivered."
    speak(app, "zh_Hans", admin.id)
    reply = progress(client, announcement_id)
    assert reply["message"] == "已送达4 / 4。"
    assert reply["data"]["label"] == "已发送"


def test_progress_of_an_unknown_announcement_is_a_404(client: FlaskClient, admin: User) -> None:
    assert client.get("/admin/announcements/999/progress").status_code == 404


# --- "added since" -------------------------------------------------------------------------------


def test_added_since_counts_only_those_without_a_copy_and_is_disabled_at_zero(
        app: Flask, client: FlaskClient, admin: User) -> None:
    add_users(app, 3)
    announcement_id = announce(app)
    send_all(app, client, announcement_id, 4)
    shown = f"/admin/announcements/{announcement_id}"
    page = client.get(shown).get_data(as_text=True)
    assert re.search(r'<button type="button" class="btn btn-primary" id="send-all" disabled', page)
    assert "Everyone it would reach already has a copy: nobody was added since." in page
    assert text_of(page, "eligible-now") == "0"
    confirm = client.get(f"{shown}/send").get_data(as_text=True)
    assert 'id="nobody-left"' in confirm
    assert 'id="confirm-send"' not in confirm
    response = post(client, f"{shown}/send", {"confirm_count": "0"}, follow_redirects=True)
    assert "Everyone it would reach already has a copy." in response.get_data(as_text=True)
    assert len(outbox(app)) == 4

    late = add_users(app, 4, "late")
    add_users(app, 1, "unconfirmed", confirmed=False)
    add_users(app, 1, "gone", subscribed=False)
    with app.app_context():  # stored fields no copy could carry: the fan-out skips their owners
        db.session.execute(update(User).where(User.id == late[2]).values(email="late2@exa mple.com"))
        db.session.execute(update(User).where(User.id == late[3]).values(username="late\r\nBcc: x"))
        db.session.commit()
    page = client.get(shown).get_data(as_text=True)
    assert text_of(page, "send-all") == "Send to 2 recipients added since…"
    assert text_of(page, "eligible-now") == "2"
    assert re.search(r'id="confirm-count">2<', client.get(f"{shown}/send").get_data(as_text=True))
    send_all(app, client, announcement_id, 2)
    assert sorted(r.recipients[0] for r in outbox(app))[:2] == ["late0@example.com", "late1@example.com"]
    assert len(outbox(app)) == 6
    assert 'id="send-all" disabled' in client.get(shown).get_data(as_text=True)


# --- language versions ---------------------------------------------------------------------------


def test_each_language_version_is_previewed_as_its_readers_get_it(
        app: Flask, client: FlaskClient, admin: User) -> None:
    announcement_id = announce(app, ("zh_Hans", "zh_Hant"))
    page = client.get(f"/admin/announcements/{announcement_id}").get_data(as_text=True)
    english = re.search(r'id="preview-text-en"[^>]*>(.*?)</pre>', page, re.S)
    simplified = re.search(r'id="preview-text-zh_Hans"[^>]*>(.*?)</pre>', page, re.S)
    traditional = re.search(r'id="preview-text-zh_Hant"[^>]*>(.*?)</pre>', page, re.S)
    assert english
    assert simplified
    assert traditional
    assert "Hello root," in english.group(1)
    assert "root，您好：" in simplified.group(1)
    assert "万物生长。" in simplified.group(1)
    assert "萬物生長。" in traditional.group(1)
    assert text_of(page, "preview-subject-zh_Hant") == "Subject: 春季消息"
    for language in ("en", "zh_Hans", "zh_Hant"):
        assert f'id="send-preview-{language}"' in page
        assert f"preview.html?language={language}" in page
    framed = client.get(f"/admin/announcements/{announcement_id}/preview.html?language=zh_Hant")
    assert "萬物生長。" in framed.get_data(as_text=True)
    assert framed.headers["Content-Security-Policy"].startswith("sandbox;")
    assert client.get(f"/admin/announcements/{announcement_id}/preview.html?language=fr").status_code == 404


def test_an_announcement_without_translations_has_one_version(client: FlaskClient, admin: User,
                                                              app: Flask) -> None:
    page = client.get(f"/admin/announcements/{announce(app)}").get_data(as_text=True)
    assert 'id="preview-text-en"' in page
    assert 'id="preview-text-zh_Hans"' not in page
    assert 'id="version-links"' not in page


def test_send_me_this_version_mails_that_language_to_the_admin_alone(
        app: Flask, client: FlaskClient, admin: User) -> None:
    add_users(app, 2)
    announcement_id = announce(app, ("zh_Hans", "zh_Hant"))
    response = post(client, f"/admin/announcements/{announcement_id}/preview", {"language": "zh_Hant"},
                    follow_redirects=True)
    assert "A preview in 繁體中文 is on its way to root@example.com." in response.get_data(as_text=True)
    [row] = outbox(app)
    assert (row.recipients, row.subject) == (["root@example.com"], "[Preview] 春季消息")
    assert (row.dedupe_key, row.announcement_id, row.meta["language"]) == (None, None, "zh_Hant")
    body = rendered(app, row).get_body(preferencelist=("plain",))
    assert body is not None
    assert "萬物生長。" in body.get_content()
    assert "root，您好：" in body.get_content()
    refused = post(client, f"/admin/announcements/{announcement_id}/preview", {"language": "fr"})
    assert refused.status_code == 400
    assert "language must name one of this announcement" in refused.get_data(as_text=True)
    assert post(client, "/admin/announcements/999/preview", {"language": "en"}).status_code == 404
    assert len(outbox(app)) == 1


# --- the confirmation's count per language ----------------------------------------------------------


def test_the_confirmation_counts_the_recipients_of_each_version(
        app: Flask, client: FlaskClient, admin: User) -> None:
    english = add_users(app, 1001)
    simplified = add_users(app, 2, "hans")
    traditional = add_users(app, 2, "hant")
    speak(app, "zh_Hans", *simplified)
    speak(app, "zh_Hant", *traditional)
    speak(app, "en", english[0])
    announcement_id = announce(app, ("zh_Hans",))
    page = client.get(f"/admin/announcements/{announcement_id}/send").get_data(as_text=True)
    # Readers of Traditional Chinese get the main version: there is none in their language.
    assert paragraph(page, "confirm-by-language") == "In each language: 1,004 in English and 2 in 简体中文."
    assert '<span lang="en">English</span>' in page
    assert '<span lang="zh-Hans">简体中文</span>' in page
    assert text_of(page, "confirm-title") == "Send “Spring news” to 1,006 recipients?"
    assert text_of(page, "confirm-send") == "Yes, send to 1,006 recipients"
    assert 'name="confirm_count" value="1006"' in page

    speak(app, "zh_Hant", admin.id)
    page = client.get(f"/admin/announcements/{announcement_id}/send").get_data(as_text=True)
    assert paragraph(page, "confirm-by-language") == "各語言：English：1,004位和简体中文：2位。"
    assert text_of(page, "confirm-title") == "將「Spring news」寄送給1,006位收件者？"


# --- the greeting label --------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "label"), [("en", "Start each copy with “Hello &lt;name&gt;,”"),
                                                 ("zh_Hans", "每封开头使用“&lt;名字&gt;，您好：”"),
                                                 ("zh_Hant", "每封開頭使用「&lt;名字&gt;，您好：」")])
def test_the_greeting_label_names_the_placeholder(app: Flask, client: FlaskClient, admin: User,
                                                  language: str, label: str) -> None:
    speak(app, language, admin.id)
    page = client.get("/admin/announcements/new").get_data(as_text=True)
    assert re.search(rf'<label class="form-check-label" for="greeting">{re.escape(label)}</label>', page)


# --- the address timeline ------------------------------------------------------------------------


def ask_for_reset(app: Flask, address: str) -> None:
    """Post the reset request form from a browser of its own (admins are signed in)."""
    visitor = app.test_client()
    data = {"email": address, "csrf_token": csrf_token(visitor, "/auth/reset_password_request")}
    assert visitor.post("/auth/reset_password_request", data=data).status_code == 302


def test_the_address_timeline_is_newest_first_with_skips_and_suppressions_marked(
        app: Flask, client: FlaskClient, admin: User, make_user: Callable[..., User],
        deliver: Callable[[], int], clock: FrozenClock) -> None:
    make_user()
    app.config["ACCOUNT_EMAILS_PER_HOUR"] = 1
    ask_for_reset(app, "alice@example.com")
    assert deliver() == 1
    clock.advance(60)
    ask_for_reset(app, "alice@example.com")
    deliver()
    clock.advance(60)
    with app.app_context():
        deliverability.record_bounce("alice@example.com", "hard", "test", "550 5.1.1 user unknown")
        db.session.commit()
    clock.advance(60)
    ask_for_reset(app, "alice@example.com")
    deliver()
    page = client.get("/admin/mail/addresses?address=alice@example.com").get_data(as_text=True)
    rows = re.findall(r'<tr class="timeline-entry([^"]*)" data-what="([^"]+)"(?: data-mark="(\w+)")?', page)
    assert [(what, mark) for _, what, mark in rows] == [
        ("skipped: suppressed", "suppressed"), ("asked for", ""), ("bounced (hard)", "failed"),
        ("skipped", "skipped"), ("asked for", ""), ("sent", ""), ("asked for", "")]
    assert "table-warning" in rows[0][0]
    assert "table-warning" in rows[3][0]
    assert "the address&#39;s hourly email budget is spent" in page
    speak(app, "zh_Hant", admin.id)
    page = client.get("/admin/mail/addresses?address=alice@example.com").get_data(as_text=True)
    assert '<span class="timeline-detail fw-bold">該地址本小時的郵件額度已用完</span>' in page
    assert 'id="timeline-order"' in page


# --- unique ids and the marked navigation ---------------------------------------------------------


def test_admin_pages_use_each_id_once_and_mark_the_current_tab(
        app: Flask, client: FlaskClient, admin: User, make_user: Callable[..., User]) -> None:
    make_user()
    ask_for_reset(app, "alice@example.com")
    add_users(app, 2)
    announcement_id = announce(app, ("zh_Hans", "zh_Hant"))
    pages = {"/admin/": "nav-announcements", "/admin/announcements/new": "nav-new",
             f"/admin/announcements/{announcement_id}": "nav-announcements",
             f"/admin/announcements/{announcement_id}/send": "nav-announcements",
             f"/admin/announcements/{announcement_id}/edit": "nav-announcements",
             "/admin/dashboard": "nav-dashboard", "/admin/mail/addresses?address=alice@example.com":
             "nav-addresses", "/admin/mail/suppressions": "nav-suppressions"}
    for path, tab in pages.items():
        page = client.get(path).get_data(as_text=True)
        assert duplicate_ids(page) == set(), path
        marked = re.findall(r'id="(nav-[a-z]+)" aria-current="(page|true)"', page)
        assert [found for found, _ in marked] == [tab], path
        assert re.search(r'class="nav-link" href="/admin/" aria-current="(page|true)"', page), path
    assert 'id="nav-announcements" aria-current="page"' in client.get("/admin/").get_data(as_text=True)


@pytest.mark.parametrize(("field", "value"), [
    ("email", "odd@exa mple.com"), ("email", "odd@example..com"), ("email", "<odd@example.com>"),
    ("email", "odd.example.com"), ("username", "odd\u2028Bcc: x"), ("username", "odd\x85"),
    ("unsubscribe_token", "not a token"),
])
def test_a_reader_no_copy_could_carry_is_not_counted(app: Flask, field: str, value: str) -> None:
    odd, fine = add_users(app, 2)
    announcement_id = announce(app)
    with app.app_context():
        db.session.execute(update(User).where(User.id == odd).values({field: value}))
        db.session.commit()
        assert announcement_status.audience_of(announcement_id).by_version == {"en": 1}
        assert announcements.send(announcement_id).queued == 1, "the fan-out skips the same reader"
    assert [r.recipients for r in outbox(app)] == [[f"user{fine - odd}@example.com"]]
