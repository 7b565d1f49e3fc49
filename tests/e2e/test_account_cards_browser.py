"""The account page's cards in Chromium, at 390 and 1280 px, in English and Chinese: the change-of-address
code shown in one state (void, expired) with and without a reload, each card's answer in its own card
after a 303, reload and Back that never send a form again, the mail-paused notice, sign-out buttons."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask_mailroom.clock import FrozenClock
from playwright.sync_api import Browser, Page, expect

from mailroom.services import budget
from tests.e2e.conftest import LiveServer
from tests.support.accounts import without_signin_notices
from tests.support.languages import PASSWORD, add_speaker
from tests.support.outbox import code_in
from tests.support.pages import assert_no_horizontal_scroll, sign_in

NEW = "alice.new@example.com"
SIZES = [{"width": 390, "height": 844}, {"width": 1280, "height": 900}]
LOCALES = {"en": "en-US", "zh_Hans": "zh-CN", "zh_Hant": "zh-TW"}
VOID = {"en": "That code was typed wrong too many times and no longer works. Send a new code in step 1.",
        "zh_Hans": "验证码输错次数太多，已经失效。请在第1步中重新获取验证码。",
        "zh_Hant": "驗證碼輸錯次數太多，已經失效。請在第1步中重新索取驗證碼。"}
SENT = {"en": "We sent a code", "zh_Hans": "验证码已发送", "zh_Hant": "驗證碼已寄到"}
PAUSED = {"en": "is paused until", "zh_Hans": "暂停到", "zh_Hant": "暫停到"}
NEW_CODE = {"en": "Send a new code", "zh_Hans": "重新发送验证码", "zh_Hant": "重新寄送驗證碼"}


def open_account(browser: Browser, live_server: LiveServer, language: str, size: dict[str, int]) -> Page:
    """A browser of the language's region, signed in as alice, on the account page."""
    context = browser.new_context(locale=LOCALES[language], viewport=size)
    page = context.new_page()
    sign_in(page, live_server.base_url, "alice", PASSWORD)
    page.goto(live_server.url("/account/"))
    return page


def send_code(page: Page) -> None:
    """Step 1 over AJAX: the new address and the password."""
    page.fill("#email", NEW)
    page.fill("#password", PASSWORD)
    with page.expect_response("**/account/email/code") as sent:
        page.click("#send-code")
    assert sent.value.status == 200
    expect(page.locator("#change-email-form")).to_be_visible()


def assert_void(page: Page, language: str) -> None:
    """The card says only that the code is void, and offers a new code once the lockout ends."""
    card = page.locator("#change-email")
    expect(card).to_have_attribute("data-code-state", "void")
    expect(page.locator("#change-state")).to_have_text(VOID[language])
    expect(card).not_to_contain_text(SENT[language])
    expect(page.locator("#change-email-form")).to_be_hidden()
    expect(page.locator("#change-email-submit")).to_be_disabled()
    expect(page.locator("#change-code-expiry")).to_be_hidden()
    expect(page.locator("#send-code")).to_have_text(NEW_CODE[language])
    expect(page.locator("#send-code")).to_be_disabled()
    expect(page.locator("#send-code-wait")).to_be_visible()


@pytest.mark.parametrize("size", SIZES, ids=["390px", "1280px"])
@pytest.mark.parametrize("language", ["en", "zh_Hans", "zh_Hant"])
def test_five_wrong_codes_leave_the_card_in_the_void_state(
        browser: Browser, live_server: LiveServer, language: str, size: dict[str, int],
        screenshot: Callable[[Page, str], Path]) -> None:
    add_speaker(live_server.app, "alice", "alice@example.com", language)
    page = open_account(browser, live_server, language, size)
    send_code(page)
    for _ in range(5):
        page.fill("#change-code", "ZZZZZZ")
        with page.expect_response("**/account/email"):
            page.click("#change-email-submit")
    assert_void(page, language)
    screenshot(page, f"void code {language} {size['width']}")
    page.reload()
    assert_void(page, language)
    assert_no_horizontal_scroll(page, f"void state at {size['width']} px")
    page.context.close()


@pytest.mark.parametrize("size", SIZES, ids=["390px", "1280px"])
def test_an_expired_code_is_shown_expired_live_and_after_a_reload(
        browser: Browser, live_server: LiveServer, clock: FrozenClock, size: dict[str, int],
        screenshot: Callable[[Page, str], Path]) -> None:
    add_speaker(live_server.app, "alice", "alice@example.com", "en")
    page = open_account(browser, live_server, "en", size)
    page.clock.install()
    page.reload()
    send_code(page)
    expect(page.locator("#change-state")).to_have_text(f"We sent a code to {NEW}. Enter it in step 2.")
    page.clock.run_for("10:01")
    expired = f"The code sent to {NEW} has expired. Send a new code in step 1."
    expect(page.locator("#change-state")).to_have_text(expired)
    expect(page.locator("#change-email-form")).to_be_hidden()
    expect(page.locator("#send-code")).to_have_text("Send a new code")
    expect(page.locator("#send-code")).to_be_enabled()
    screenshot(page, f"expired code {size['width']}")
    clock.advance(601)
    page.reload()
    expect(page.locator("#change-email")).to_have_attribute("data-code-state", "expired")
    expect(page.locator("#change-state")).to_have_text(expired)
    expect(page.locator("#change-email-form")).to_be_hidden()
    expect(page.locator("#send-code")).to_be_enabled()
    page.context.close()


def test_after_the_change_the_cooldown_stops_and_step_two_goes(
        browser: Browser, live_server: LiveServer, mail_to: Callable[..., Any]) -> None:
    add_speaker(live_server.app, "alice", "alice@example.com", "en")
    page = open_account(browser, live_server, "en", SIZES[1])
    send_code(page)
    page.fill("#change-code", code_in(mail_to(NEW)[0].text()))
    with page.expect_response("**/account/email"):
        page.click("#change-email-submit")
    expect(page.locator("#email-change-message")).to_contain_text(f"Your address is now {NEW}")
    expect(page.locator("#change-email-form")).to_be_hidden()
    expect(page.locator("#send-code-wait")).to_be_hidden()
    expect(page.locator("#send-code")).to_be_enabled()
    expect(page.locator("#send-code")).to_have_text("Send code")
    expect(page.locator("#email-status")).to_have_text("confirmed")
    page.context.close()


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
@pytest.mark.parametrize("size", SIZES, ids=["390px", "1280px"])
def test_card_answers_survive_a_reload_and_back_never_sends_a_form_again(
        browser: Browser, live_server: LiveServer, size: dict[str, int], javascript: bool,
        screenshot: Callable[[Page, str], Path]) -> None:
    add_speaker(live_server.app, "alice", "alice@example.com", "en")
    context = browser.new_context(viewport=size, java_script_enabled=javascript)
    page = context.new_page()
    posts: list[str] = []  # every form the browser sends, so one sent again by reload or Back shows
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    sign_in_without_script(page, live_server)
    page.goto(live_server.url("/account/"))
    page.uncheck("#announcements")
    page.click("#preferences-submit")
    page.wait_for_url("**/account/#preferences")
    expect(page.locator("#preferences-status")).to_contain_text("You will no longer receive announcements")
    page.fill("#current_password", "not my password")
    page.fill("#new-password", "a brand new passphrase")
    page.fill("#new-password2", "a brand new passphrase")
    page.click("#change-password-submit")
    page.wait_for_url("**/account/#change-password")
    expect(page.locator("#change-password-status")).to_contain_text("please correct the marked field")
    expect(page.locator("#current_password-error")).to_have_text("That is not your current password.")
    screenshot(page, f"password answer {size['width']} js={javascript}")
    sent = len(posts)
    page.reload()
    expect(page.locator("h1")).to_have_text("Your account")
    expect(page.locator("#change-password-status")).to_have_text("")
    page.go_back()
    expect(page.locator("h1")).to_have_text("Your account")
    page.go_back()
    expect(page.locator("h1")).to_have_text("Your account")
    assert len(posts) == sent, f"a reload or Back sent a form again: {posts[sent:]}"
    page.goto(live_server.url("/account/password"))
    expect(page.locator("h1")).to_have_text("Your account")
    assert page.url.endswith("/account/#change-password")
    context.close()


def sign_in_without_script(page: Page, live_server: LiveServer) -> None:
    """Sign in through the real form (with or without the page's scripts)."""
    page.goto(live_server.url("/auth/login"))
    page.fill("#identifier", "alice")
    page.fill("#password", PASSWORD)
    page.click("#submit")
    expect(page.locator("#nav-user")).to_have_text("alice")


@pytest.mark.parametrize("language", ["en", "zh_Hans", "zh_Hant"])
def test_the_account_page_says_mail_to_the_address_is_paused(
        browser: Browser, live_server: LiveServer, language: str,
        screenshot: Callable[[Page, str], Path]) -> None:
    add_speaker(live_server.app, "alice", "alice@example.com", language)
    without_signin_notices(live_server.app)
    live_server.app.config["ACCOUNT_EMAILS_PER_HOUR"] = 1
    page = open_account(browser, live_server, language, SIZES[0])
    expect(page.locator("#mail-paused")).to_have_count(0)
    with live_server.app.app_context():
        budget.spend("alice@example.com")
    page.reload()
    notice = page.locator("#mail-paused")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("alice@example.com")
    expect(notice).to_contain_text(PAUSED[language])
    screenshot(page, f"mail paused {language}")
    page.context.close()


@pytest.mark.parametrize("size", SIZES, ids=["390px", "1280px"])
@pytest.mark.parametrize("language", ["en", "zh_Hant"])
def test_sign_out_buttons_stay_on_one_line_and_this_browser_comes_first(
        browser: Browser, live_server: LiveServer, language: str, size: dict[str, int]) -> None:
    add_speaker(live_server.app, "alice", "alice@example.com", language)
    other = open_account(browser, live_server, language, size)
    page = open_account(browser, live_server, language, size)
    rows = page.locator(".session-row")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-current", "yes")
    for button in page.locator("#sessions button.btn-sm").all():
        lines = button.evaluate("b => b.getClientRects().length === 1 && b.scrollWidth <= b.clientWidth"
                                " && b.offsetHeight < 2 * parseFloat(getComputedStyle(b).lineHeight) + 16")
        assert lines, f"{button.inner_text()} wraps at {size['width']} px"
    other.context.close()
    page.context.close()
