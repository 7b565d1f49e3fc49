"""Trusted browsers in Chromium: two browsers sign in (each new one is told to the owner by email),
the account page lists both and marks this one, forgetting the other makes its next sign-in new
again, and "Forget all" empties the list."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from mailroom.models import User
from tests.e2e.conftest import LiveServer
from tests.support.pages import assert_accessible, assert_no_horizontal_scroll
from tests.support.pages import sign_in as sign_in_as

PASSWORD = "correct horse battery"
CHROME_ON_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/131.0.0.0 Safari/537.36")
NOTICE = "New sign-in to your Mailroom account"


def sign_in_elsewhere(browser: Browser, live_server: LiveServer) -> None:
    """Sign in as alice in another browser (Chrome on Windows), then close it."""
    context = browser.new_context(user_agent=CHROME_ON_WINDOWS)
    try:
        sign_in_as(context.new_page(), live_server.base_url, "alice", PASSWORD)
    finally:
        context.close()


def notices(mail_to: Callable[..., list[Any]], count: int) -> list[Any]:
    """The first ``count`` messages to alice, each a new-sign-in notice."""
    found = mail_to("alice@example.com", count)
    assert [message.message["Subject"] for message in found] == [NOTICE] * count
    return found


def test_forgetting_a_browser_on_the_account_page(
        page: Page, browser: Browser, live_server: LiveServer, make_user: Callable[..., User],
        mail_to: Callable[..., list[Any]], screenshot: Callable[[Page, str], Path],
        console_errors: list[str]) -> None:
    make_user()
    sign_in_elsewhere(browser, live_server)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in_as(page, live_server.base_url, "alice", PASSWORD)
    told = notices(mail_to, 2)
    assert "Windows" in told[0].text()
    assert live_server.url("/account/#sessions") in told[1].text()

    page.goto(live_server.url("/account/"))
    rows = page.locator("#browser-list .browser-row")
    expect(rows).to_have_count(2)
    this = page.locator('.browser-row[data-current="yes"]')
    expect(this).to_contain_text("this browser")
    other = page.locator('.browser-row[data-current="no"]')
    expect(other).to_contain_text("Chrome on Windows")
    expect(other).to_contain_text("127.0.0.1")
    assert_accessible(page, "account page with two trusted browsers")
    screenshot(page, "two trusted browsers")

    other.get_by_role("button", name="Forget").click()
    expect(page.locator(".alert-success")).to_contain_text("That browser is forgotten")
    expect(rows).to_have_count(1)
    expect(page.locator('.browser-row[data-current="yes"]')).to_have_count(1)
    screenshot(page, "the other browser forgotten")

    sign_in_elsewhere(browser, live_server)
    notices(mail_to, 3)
    page.reload()
    expect(rows).to_have_count(2)

    page.click("#forget-all-browsers")
    expect(page.locator(".alert-success")).to_contain_text("Every browser is forgotten")
    expect(page.locator("#no-browsers")).to_be_visible()
    page.set_viewport_size({"width": 360, "height": 800})
    assert_no_horizontal_scroll(page, "account page at 360 px")
    assert_accessible(page, "account page with no trusted browser")
    screenshot(page, "every browser forgotten, on a phone")
    assert console_errors == []
