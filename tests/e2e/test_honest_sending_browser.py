"""Honest sending in Chromium, at 390 and 1280 px, in English and Chinese: the announcement page follows
the sending live (the test runs the delivery worker and moves the page's clock: no reload, no sleep)
up to its final figures and then stops asking; "added since" is disabled at 0 and counts a newcomer;
each language version is previewed and "send me this version" mails that language; the confirmation
counts each language; the admin's timeline reads newest first with its skipped line marked; the
current page is marked in the navigation."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask_mailroom.engine.worker import Worker
from playwright.sync_api import Page, expect
from werkzeug.serving import BaseWSGIServer

from mailroom.extensions import db
from mailroom.models import User
from mailroom.services import announcement_text, announcements
from tests.e2e.conftest import LiveServer
from tests.support.accounts import without_browser_check, without_signin_notices
from tests.support.announcements import add_users
from tests.support.languages import PASSWORD, add_speaker
from tests.support.pages import assert_accessible, assert_no_horizontal_scroll, sign_in
from tests.support.smtp import Received, SMTPServer

POLL_MS = 2000  # what the page's script waits between two questions (admin.PROGRESS_POLL_MS)
WORDS = {
    "en": {"sending": "0 of 3 delivered, 3 on their way.", "sent": "3 of 3 delivered.", "state": "sent",
           "done": "Sending is finished.", "nobody": "Everyone it would reach already has a copy",
           "one_more": "Send to 1 recipient added since…",
           "by_language": "In each language: 2 in English and 1 in 简体中文."},
    "zh_Hans": {"sending": "已送达0 / 3，3封正在途中。", "sent": "已送达3 / 3。", "state": "已发送",
                "done": "发送已完成。", "nobody": "所有收件人都已收到一份",
                "one_more": "发送给此后新增的1位收件人…",
                "by_language": "各语言：English：1位和简体中文：2位。"},
}


@pytest.fixture
def live_server(app: Flask, smtp: SMTPServer,
                live_socket: tuple[BaseWSGIServer, object]) -> Iterator[LiveServer]:
    """The app served over real HTTP with its delivery worker held: the test runs it
    (``live_server.worker.drain()``), so the page sees the sending at each step it chooses."""
    server, deferred = live_socket
    deferred.target = app  # type: ignore[attr-defined]
    live = LiveServer(app=app, smtp=smtp, server=server, worker=Worker(app))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="e2e-http-held-worker", daemon=True)
    thread.start()
    yield live
    server.shutdown()
    thread.join(timeout=15)
    assert not thread.is_alive(), "live server did not stop"


def admin_reading(app: Flask, language: str) -> None:
    """The admin root, reading ``language``, without the new-browser check."""
    add_speaker(app, "root", "root@example.com", language)
    with app.app_context():
        db.session.execute(db.update(User).where(User.username == "root").values(is_admin=True))
        db.session.commit()
    without_browser_check(app, "root@example.com")
    without_signin_notices(app, "root@example.com")


def draft(app: Flask, languages: tuple[str, ...] = ()) -> int:
    """A draft with versions in ``languages``; its id."""
    texts = {"zh_Hans": ("春季消息", "万物生长。"), "zh_Hant": ("春季消息", "萬物生長。")}
    with app.app_context():
        versions = {lang: announcement_text.translated(lang, *texts[lang]) for lang in languages}
        return int(announcements.create("Spring news", "Things are growing.", versions=versions).id)


def clock_in_a_sandbox(error: str) -> bool:
    """Playwright's fake clock is a script it adds to every frame: the sandboxed HTML previews (no
    scripts allowed, as intended) refuse it, and say so on the console."""
    return "preview.html" in error and "sandboxed" in error


def fan_out_done(app: Flask, announcement_id: int) -> None:
    """Wait for the fan-out the confirmation started (a thread of the server)."""
    thread = announcements.running_fan_outs(app)[announcement_id]
    thread.join(timeout=30)
    assert not thread.is_alive()


@pytest.mark.parametrize(("language", "width"), [("en", 1280), ("zh_Hans", 390)])
def test_the_page_follows_the_sending_live_to_its_final_figures(
        page: Page, live_server: LiveServer, language: str, width: int,
        screenshot: Callable[[Page, str], Path], console_errors: list[str]) -> None:
    app, words = live_server.app, WORDS[language]
    admin_reading(app, language)
    add_users(app, 1)
    add_speaker(app, "mei", "mei@example.com", "zh_Hans")
    announcement_id = draft(app, ("zh_Hans",))
    page.set_viewport_size({"width": width, "height": 900})
    page.clock.install()
    sign_in(page, live_server.base_url, "root", PASSWORD)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/progress" in r.url else None)

    page.goto(live_server.url(f"/admin/announcements/{announcement_id}/send"))
    expect(page.locator("#confirm-by-language")).to_have_text(words["by_language"])
    assert_no_horizontal_scroll(page, f"confirmation at {width} px")
    # A reload while the confirmation's redirect is still loading detaches the page.
    with page.expect_navigation(url=f"**/admin/announcements/{announcement_id}", wait_until="load"):
        page.click("#confirm-send")
    fan_out_done(app, announcement_id)
    page.reload()  # the figures once every copy is queued (the fan-out ran while the page loaded)
    expect(page.locator("#progress-text")).to_have_text(words["sending"])
    expect(page.locator("#count-queued")).to_have_text("3")
    screenshot(page, f"sending {language} {width}")

    assert live_server.worker.drain() == 3
    assert len(live_server.smtp.messages) == 3
    page.clock.run_for(POLL_MS)
    expect(page.locator("#progress-text")).to_have_text(words["sent"])
    expect(page.locator("#announcement-status")).to_have_text(words["state"])
    expect(page.locator("#count-sent")).to_have_text("3")
    expect(page.locator("#count-queued")).to_have_text("0")
    expect(page.locator("#progress-bar")).to_have_attribute("value", "100")
    expect(page.locator("#progress-live")).to_have_text(words["done"])
    questions = len(asked)
    page.clock.run_for(POLL_MS * 10)
    assert len(asked) == questions, "the page stops asking once the sending is finished"
    assert questions >= 1
    expect(page.locator("#send-all")).to_be_disabled()
    expect(page.locator("#send-all-note")).to_contain_text(words["nobody"])
    assert_no_horizontal_scroll(page, f"sent announcement at {width} px")
    assert_accessible(page, f"sent announcement {language}")
    screenshot(page, f"sent {language} {width}")

    add_users(app, 1, "late")
    page.reload()
    expect(page.locator("#send-all")).to_have_text(words["one_more"])
    assert [e for e in console_errors if not clock_in_a_sandbox(e)] == []


@pytest.mark.parametrize(("language", "width"), [("zh_Hant", 390), ("en", 1280)])
def test_each_version_is_previewed_and_sent_to_the_admin_in_its_language(
        page: Page, live_server: LiveServer, language: str, width: int,
        mail_to: Callable[..., list[Received]], screenshot: Callable[[Page, str], Path],
        console_errors: list[str]) -> None:
    app = live_server.app
    admin_reading(app, language)
    announcement_id = draft(app, ("zh_Hans", "zh_Hant"))
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server.base_url, "root", PASSWORD)
    page.goto(live_server.url(f"/admin/announcements/{announcement_id}"))
    expect(page.locator("#preview-text-en")).to_contain_text("Things are growing.")
    expect(page.locator("#preview-text-zh_Hans")).to_contain_text("万物生长。")
    expect(page.locator("#preview-text-zh_Hant")).to_contain_text("萬物生長。")
    expect(page.frame_locator("#preview-html-zh_Hans").locator("body")).to_contain_text("万物生长。")
    expect(page.locator("#main-nav a[aria-current]")).to_have_attribute("aria-current", "true")
    expect(page.locator(".admin-tabs a[aria-current]")).to_have_attribute("href", "/admin/")
    assert_no_horizontal_scroll(page, f"announcement with three versions at {width} px")
    assert_accessible(page, f"announcement with three versions {language}")
    screenshot(page, f"versions {language} {width}")

    page.click("#send-preview-zh_Hans")
    expect(page.locator(".alert-success")).to_contain_text("root@example.com")
    assert live_server.worker.drain() == 1
    [received] = mail_to("root@example.com")
    # The subject is the version's; its "[Preview]" mark is in the admin's language.
    assert received.message["Subject"] == {"en": "[Preview] 春季消息", "zh_Hant": "[預覽] 春季消息"}[language]
    assert "万物生长。" in received.text()
    assert "root，您好：" in received.text()
    assert console_errors == []


@pytest.mark.parametrize(("language", "width"), [("zh_Hans", 390), ("en", 1280)])
def test_the_timeline_reads_newest_first_with_the_skipped_line_marked(
        page: Page, live_server: LiveServer, language: str, width: int,
        screenshot: Callable[[Page, str], Path], console_errors: list[str]) -> None:
    app = live_server.app
    app.config["ACCOUNT_EMAILS_PER_HOUR"] = 1
    admin_reading(app, language)
    add_speaker(app, "alice", "alice@example.com", "en")
    page.set_viewport_size({"width": width, "height": 900})
    for _ in range(2):
        page.goto(live_server.url("/auth/reset_password_request"))
        page.fill("#email", "alice@example.com")
        page.click("#submit")
        page.wait_for_load_state("load")
        live_server.worker.drain()
    sign_in(page, live_server.base_url, "root", PASSWORD)
    page.goto(live_server.url("/admin/mail/addresses?address=alice@example.com"))
    rows = page.locator("#timeline tbody tr")
    expect(rows.first).to_have_attribute("data-mark", "skipped")
    expect(rows.first.locator(".badge")).to_be_visible()
    budget = {"en": "the address's hourly email budget is spent", "zh_Hans": "该地址本小时的邮件额度已用完"}
    expect(rows.first.locator(".timeline-detail")).to_have_text(budget[language])
    expect(rows.last).to_have_attribute("data-what", "asked for")
    expect(page.locator(".admin-tabs a[aria-current='page']")).to_have_attribute("id", "nav-addresses")
    assert_no_horizontal_scroll(page, f"timeline at {width} px")
    assert_accessible(page, f"timeline {language}")
    screenshot(page, f"timeline {language} {width}")
    assert console_errors == []
