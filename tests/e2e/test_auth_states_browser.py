"""The registration code page's one state per code, answers without resubmission prompts, the reset
page's "didn't get it?" help with the pause notice, and the dev mailbox's link check on the revert
and unsubscribe links of the running site (test_devmail_linkcheck_browser.py), in Chromium at 390 and
1280 px, in English and Chinese."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask_mailroom.clock import FrozenClock
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import LiveServer
from tests.support.outbox import code_in
from tests.support.pages import assert_accessible, assert_no_horizontal_scroll
from tests.support.smtp import Received

PASSWORD = "correct horse battery"
WIDTHS = (390, 1280)
LOCALES = {"en": "en-GB", "zh_Hans": "zh-CN"}
# What the page says in each language (read from the catalogue the page is rendered with).
VOID_TITLE = {"en": "This code no longer works", "zh_Hans": "此验证码已失效"}
EXPIRED_TITLE = {"en": "This code has expired", "zh_Hans": "此验证码已过期"}


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[[str, int], Page]]:
    """A page in a fresh context speaking ``language`` at ``width`` px."""
    contexts: list[Any] = []

    def make(language: str, width: int) -> Page:
        """A new context and page."""
        context = browser.new_context(locale=LOCALES[language], viewport={"width": width, "height": 900})
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def register(page: Page, live_server: LiveServer, email: str) -> None:
    """Fill in the registration form and send it."""
    page.goto(live_server.url("/auth/register"))
    page.fill("#username", email.split("@")[0])
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.fill("#password2", PASSWORD)
    page.click("#submit")
    expect(page).to_have_url(live_server.url("/auth/register/code"))


def type_code(page: Page, code: str) -> None:
    """Type a code on the registration code page and send it."""
    page.fill("#code", code)
    page.click("#submit")
    expect(page).to_have_url(page.url.split("?")[0])


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("language", ["en", "zh_Hans"])
def test_void_then_a_new_code_and_no_resubmission_prompt(
        open_page: Callable[[str, int], Page], live_server: LiveServer, clock: FrozenClock,
        mail_to: Callable[..., list[Received]], screenshot: Callable[[Page, str], Path],
        language: str, width: int) -> None:
    page = open_page(language, width)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    email = f"void-{language}-{width}@example.com"
    register(page, live_server, email)
    [first] = mail_to(email)
    for _ in range(5):
        type_code(page, "ABCDEF" if code_in(first.text()) != "ABCDEF" else "ABCDEG")
    expect(page.locator("#register-code-title")).to_have_text(VOID_TITLE[language])
    expect(page.locator("#register-sent")).to_have_attribute("data-code-state", "void")
    expect(page.locator("#code")).to_be_disabled()
    expect(page.locator("#register-code-resend")).to_be_disabled()
    expect(page.locator("#register-code-resend-wait")).to_be_visible()
    expect(page.locator("#register-code-expiry")).to_be_hidden()
    screenshot(page, f"void code {language} {width}")
    assert_no_horizontal_scroll(page, f"void registration code page at {width} px")
    assert_accessible(page, "void registration code page")
    # Reload and Back after the wrong codes: pages, never a resubmission prompt or a 405.
    response = page.reload()
    assert response is not None
    assert response.status == 200
    page.go_back()
    page.go_forward()
    assert dialogs == []
    assert "405" not in page.content()
    clock.advance(601)
    page.reload()
    expect(page.locator("#register-code-resend")).to_be_enabled()
    page.click("#register-code-resend")
    expect(page.locator("#register-sent")).to_have_attribute("data-code-state", "pending")
    expect(page.locator("#register-code-said")).to_contain_text(email)
    second = mail_to(email, 2)[-1]
    type_code(page, code_in(second.text()))
    expect(page).to_have_url(live_server.url("/account/"))


@pytest.mark.parametrize("width", WIDTHS)
def test_an_expired_code_offers_a_new_one(
        open_page: Callable[[str, int], Page], live_server: LiveServer, clock: FrozenClock,
        mail_to: Callable[..., list[Received]], screenshot: Callable[[Page, str], Path], width: int) -> None:
    page = open_page("zh_Hans", width)
    email = f"expired-{width}@example.com"
    register(page, live_server, email)
    [first] = mail_to(email)
    expect(page.locator("#register-sent")).to_have_attribute("data-code-state", "pending")
    clock.advance(601)
    page.reload()
    expect(page.locator("#register-code-title")).to_have_text(EXPIRED_TITLE["zh_Hans"])
    expect(page.locator("#code")).to_be_disabled()
    expect(page.locator("#register-code-resend")).to_be_enabled()
    screenshot(page, f"expired code zh_Hans {width}")
    assert_no_horizontal_scroll(page, f"expired registration code page at {width} px")
    page.click("#register-code-resend")
    expect(page.locator("#register-sent")).to_have_attribute("data-code-state", "pending")
    second = mail_to(email, 2)[-1]
    assert code_in(second.text()) != code_in(first.text())
    type_code(page, code_in(second.text()))
    expect(page).to_have_url(live_server.url("/account/"))


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Two reset requests an hour per address, so the second one shows the pause."""
    return app_config | {"RATELIMIT_RESET_PER_ADDRESS": "2 per hour"}


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("language", ["en", "zh_Hans"])
def test_the_reset_page_prefills_the_address_and_tells_the_pause(
        open_page: Callable[[str, int], Page], live_server: LiveServer,
        screenshot: Callable[[Page, str], Path], language: str, width: int) -> None:
    page = open_page(language, width)
    page.goto(live_server.url("/auth/reset_password_request"))
    page.fill("#email", "nobody@example.com")
    page.click("#submit")
    expect(page).to_have_url(live_server.url("/auth/reset_password/sent"))
    expect(page.locator("#reset-sent")).to_contain_text("nobody@example.com")
    expect(page.locator("#reset-paused")).to_have_count(0)
    page.click("#reset-help summary")
    expect(page.locator("#email")).to_have_value("nobody@example.com")
    page.click("#reset-again")
    expect(page).to_have_url(live_server.url("/auth/reset_password/sent"))
    expect(page.locator("#reset-help")).to_have_attribute("open", "")
    expect(page.locator("#reset-paused time")).to_be_visible()
    screenshot(page, f"reset help with the pause {language} {width}")
    assert_no_horizontal_scroll(page, f"reset sent page at {width} px")
    assert_accessible(page, "reset sent page with the pause")
    assert page.reload() is not None
