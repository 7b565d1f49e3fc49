"""Languages in Chromium: the menu, the account page, and registering from a Taiwanese browser."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import LiveServer
from tests.support.languages import PASSWORD, user_named

CODE_LINE = re.compile(r"^ {4}([A-Z2-9]{6})\r?$", re.MULTILINE)


def test_the_menu_switches_a_visitors_language(page: Page, live_server: LiveServer,
                                               screenshot: Callable[[Page, str], Path],
                                               console_errors: list[str]) -> None:
    page.goto(live_server.url("/auth/login"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("h1")).to_have_text("Sign in")
    page.click("#language-toggle")
    page.click("#language-zh_Hant")
    expect(page).to_have_url(live_server.url("/auth/login"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hant")
    expect(page.locator("h1")).to_have_text("登入")
    expect(page.locator("label[for=identifier]")).to_have_text("使用者名稱或電子郵件")
    screenshot(page, "sign-in page in Traditional Chinese")
    page.goto(live_server.url("/auth/register"))
    expect(page.locator("h1")).to_have_text("註冊")  # the cookie keeps the choice
    assert console_errors == []


def test_registering_from_a_taiwanese_browser_stores_zh_hant(
        browser: Browser, live_server: LiveServer, screenshot: Callable[[Page, str], Path],
        mail_to: Callable[..., list[Any]]) -> None:
    context = browser.new_context(locale="zh-TW", timezone_id="Asia/Taipei")
    page = context.new_page()
    try:
        page.goto(live_server.url("/auth/register"))
        expect(page.locator("html")).to_have_attribute("lang", "zh-Hant")
        page.fill("#username", "陳大文")
        page.fill("#email", "tai@example.com")
        page.fill("#password", PASSWORD)
        page.fill("#password2", PASSWORD)
        screenshot(page, "registration form from a zh-TW browser")
        page.click("#submit")
        expect(page.locator("h1")).to_have_text("請查看您的電子郵件")
        [mail] = mail_to("tai@example.com")
        assert mail.message["Subject"] == "您的 Mailroom 註冊驗證碼"
        found = CODE_LINE.search(mail.text())
        assert found is not None
        page.fill("#code", found.group(1))
        page.click("#submit")
        expect(page.locator("#account-username")).to_have_text("陳大文")
        expect(page.locator("h1")).to_have_text("您的帳號")
        user = user_named(live_server.app, "陳大文")
        assert (user.language, user.timezone) == ("zh_Hant", "Asia/Taipei")

        page.select_option("#language-select", "zh_Hans")
        page.select_option("#timezone-select", "Asia/Shanghai")
        page.click("#language-submit")
        expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
        expect(page.locator("h1")).to_have_text("你的账号")
        screenshot(page, "account page after choosing Simplified Chinese")
        user = user_named(live_server.app, "陳大文")
        assert (user.language, user.timezone) == ("zh_Hans", "Asia/Shanghai")

        page.click("#language-toggle")
        page.click("#language-en")
        expect(page.locator("h1")).to_have_text("Your account")
        assert user_named(live_server.app, "陳大文").language == "en"
    finally:
        context.close()
