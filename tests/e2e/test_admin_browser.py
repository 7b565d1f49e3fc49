"""The admin in Chromium: a draft written without the greeting, edited, confirmed before the mass send
(the count named), its honest status up to "sent"; another draft deleted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from mailroom.models import User
from tests.e2e.conftest import LiveServer
from tests.integration.mail.helpers import wait_for
from tests.support.accounts import without_browser_check
from tests.support.outbox import outbox
from tests.support.pages import assert_accessible, assert_no_horizontal_scroll

PASSWORD = "correct horse battery"


def write_draft(page: Page, live_server: LiveServer, subject: str, text: str, greeting: bool) -> None:
    """Write a draft through the form."""
    page.goto(live_server.url("/admin/announcements/new"))
    page.fill("#subject", subject)
    page.fill("#text_body", text)
    page.set_checked("#greeting", greeting)
    page.click("#submit")
    expect(page.locator("#announcement-subject")).to_have_text(subject)


def test_mass_send_is_confirmed_with_the_count_and_drafts_can_change(
        page: Page, live_server: LiveServer, make_user: Callable[..., User], runner: Any,
        screenshot: Callable[[Page, str], Path], console_errors: list[str]) -> None:
    for i in range(3):
        make_user(f"user{i}", f"user{i}@example.com")
    make_user("root", "root@example.com")
    assert runner.invoke(args=["users", "grant-admin", "root@example.com"]).exit_code == 0
    without_browser_check(live_server.app, "root@example.com")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server.url("/auth/login"))
    page.fill("#identifier", "root")
    page.fill("#password", PASSWORD)
    page.click("#submit")

    write_draft(page, live_server, "Spring news", "Hello everyone,\n\nWe shipped pages people enjoy.", False)
    expect(page.locator("#announcement-status")).to_have_text("draft")
    expect(page.locator("#preview-text-en")).to_contain_text("Hello everyone,")
    expect(page.locator("#preview-text-en")).not_to_contain_text("Hello root,")
    page.click("#edit-draft")
    page.fill("#subject", "Spring news, edited")
    page.click("#submit")
    expect(page.locator(".alert-success")).to_have_text("Draft saved.")
    expect(page.locator("#announcement-subject")).to_have_text("Spring news, edited")
    expect(page.locator("#send-all")).to_contain_text("Send to 4 recipients…")
    screenshot(page, "desktop draft")

    page.click("#send-all")
    expect(page.locator("#confirm-title")).to_have_text("Send “Spring news, edited” to 4 recipients?")
    expect(page.locator("#confirm-send")).to_have_text("Yes, send to 4 recipients")
    assert_accessible(page, "send confirmation")
    page.set_viewport_size({"width": 360, "height": 800})
    assert_no_horizontal_scroll(page, "send confirmation at 360 px")
    screenshot(page, "mobile send confirmation")
    page.click("#cancel-send")
    expect(page.locator("#announcement-status")).to_have_text("draft")

    page.click("#send-all")
    page.click("#confirm-send")
    expect(page.locator(".alert-success")).to_contain_text("Sending has started")
    copies = lambda: [r.status for r in outbox(live_server.app) if r.announcement_id]  # noqa: E731
    assert wait_for(lambda: copies() == ["sent"] * 4, 30), copies()
    page.reload()
    expect(page.locator("#announcement-status")).to_have_text("sent")
    expect(page.locator("#progress-text")).to_have_text("4 of 4 delivered.")
    assert_no_horizontal_scroll(page, "sent announcement at 360 px")
    screenshot(page, "mobile sent announcement")
    page.goto(live_server.url("/admin/"))
    expect(page.locator("#announcements")).to_contain_text("sent")
    assert_no_horizontal_scroll(page, "admin list at 360 px")
    screenshot(page, "mobile admin list")

    page.set_viewport_size({"width": 1280, "height": 900})
    write_draft(page, live_server, "Never mind", "Scratch that.", True)
    expect(page.locator("#preview-text-en")).to_contain_text("Hello root,")
    page.click("#delete-draft")
    expect(page.locator(".alert-success")).to_have_text("Draft “Never mind” deleted.")
    expect(page.locator("#announcements")).not_to_contain_text("Never mind")
    assert console_errors == []
