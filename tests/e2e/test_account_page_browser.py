"""The account page in Chromium: its tasks in order, one code box per task, the same live countdown for
every wait (re-enabling its button, under Playwright's fake clock and the app's frozen clock), busy
buttons, preferences."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask_mailroom.clock import FrozenClock
from playwright.sync_api import Page, expect

from mailroom.models import User
from tests.e2e.conftest import LiveServer
from tests.support.pages import assert_accessible, assert_no_horizontal_scroll
from tests.support.pages import sign_in as sign_in_as

PASSWORD = "correct horse battery"
TASKS = ["confirm", "change-email", "change-password", "sessions", "browsers", "preferences"]
# Records every moment a button was busy (aria-busy and a spinner), since the reply can be fast.
WATCH_BUSY = """id => { window.busySeen = []; const b = document.getElementById(id);
  new MutationObserver(() => { if (b.getAttribute('aria-busy') === 'true')
    window.busySeen.push([b.disabled, !!b.querySelector('.spinner-border')]); })
  .observe(b, {attributes: true, childList: true}); }"""


def sign_in(page: Page, live_server: LiveServer) -> None:
    """Sign in as alice through the real form."""
    sign_in_as(page, live_server.base_url, "alice", PASSWORD)


def test_tasks_in_order_with_one_code_box_each(
        page: Page, live_server: LiveServer, make_user: Callable[..., User],
        screenshot: Callable[[Page, str], Path], console_errors: list[str]) -> None:
    make_user(confirmed=False)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server)
    page.goto(live_server.url("/account/"))
    assert page.locator(".account-tasks > section").evaluate_all("els => els.map(e => e.id)") == TASKS
    labels = page.locator("label[for='code'], label[for='change-code']").all_inner_texts()
    assert len(set(labels)) == len(labels), f"each code box has its own label: {labels}"
    expect(page.locator("#change-email-submit")).to_be_disabled()
    expect(page.locator("#change-code")).to_be_disabled()
    screenshot(page, "desktop account page of a new user")

    page.evaluate(WATCH_BUSY, "send-code")
    page.fill("#email", "alice.new@example.com")
    page.fill("#password", PASSWORD)
    with page.expect_response("**/account/email/code") as sent:
        page.click("#send-code")
    assert sent.value.status == 200
    assert page.evaluate("() => window.busySeen")[0] == [True, True], "disabled, with a spinner"
    expect(page.locator("#send-code")).not_to_have_attribute("aria-busy", "true")
    expect(page.locator("#change-email-submit")).to_be_enabled()
    expect(page.locator("#change-code")).to_be_focused()
    expect(page.locator("#change-code-target")).to_have_text("alice.new@example.com")
    expect(page.locator("#change-code-expiry")).to_contain_text("The code works for")
    expect(page.locator("#send-code-wait")).to_contain_text("You can ask for a new code in")
    expect(page.locator("#send-code")).to_be_disabled()

    page.fill("#change-code", "ZZZZZZ")
    page.click("#change-email-submit")
    expect(page.locator("#change-code-error")).to_have_text("That code is not right: 4 tries left.")
    expect(page.locator("#change-code")).to_have_attribute("aria-invalid", "true")
    described = "change-code-hint change-code-error"
    expect(page.locator("#change-code")).to_have_attribute("aria-describedby", described)
    assert_accessible(page, "account page with a code error")
    page.set_viewport_size({"width": 360, "height": 800})
    assert_no_horizontal_scroll(page, "account page at 360 px")
    screenshot(page, "mobile account page, step 2 with an error")

    page.uncheck("#announcements")
    page.click("#preferences-submit")
    expect(page.locator(".alert-success")).to_contain_text("no longer receive announcements")
    expect(page.locator("#announcements")).not_to_be_checked()
    page.check("#announcements")
    page.click("#preferences-submit")
    expect(page.locator(".alert-success")).to_contain_text("You will receive announcements")
    expect(page.locator("#announcements")).to_be_checked()
    assert console_errors == []


def test_the_countdown_re_enables_its_button(
        page: Page, live_server: LiveServer, make_user: Callable[..., User], clock: FrozenClock,
        screenshot: Callable[[Page, str], Path], console_errors: list[str]) -> None:
    make_user(confirmed=False)
    page.clock.install()
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, live_server)
    page.goto(live_server.url("/account/"))
    expect(page.locator("#resend-confirmation")).to_be_enabled()
    page.click("#resend-confirmation")
    expect(page.locator(".alert-success")).to_contain_text("We sent a new code to alice@example.com")
    wait = page.locator("#resend-wait")
    expect(wait).to_have_text("You can ask for a new code in 1 min.")
    expect(page.locator("#resend-confirmation")).to_be_disabled()
    expect(page.locator("#confirm-expiry")).to_have_text("The code works for 10 min more.")
    page.clock.run_for("00:25")
    expect(wait).to_have_text("You can ask for a new code in 35 sec.")
    expect(page.locator("#confirm-expiry")).to_have_text("The code works for 9 min, 35 sec more.")
    expect(page.locator("#resend-confirmation")).to_be_disabled()
    screenshot(page, "countdown running")
    page.clock.run_for("00:36")
    expect(wait).to_have_text("You can ask for a new code now.")
    expect(page.locator("#resend-confirmation")).to_be_enabled()
    screenshot(page, "countdown over, button enabled")

    clock.advance(61)
    # The page already shows the first resend's notice: wait for the new page, not for that text.
    with page.expect_navigation():
        page.click("#resend-confirmation")
    expect(page.locator(".alert-success")).to_contain_text("We sent a new code to alice@example.com")
    expect(page.locator("#confirm-expiry")).to_have_text("The code works for 10 min more.")
    page.clock.run_for("10:01")
    expect(page.locator("#confirm-pending")).to_have_text(
        "The code sent to alice@example.com has expired. Send a new code below.")
    expect(page.locator("#confirm-expiry")).to_be_hidden()
    expect(page.locator("#confirm-submit")).to_be_disabled()
    assert console_errors == []


def test_a_lockout_is_counted_down_the_same_way(
        page: Page, live_server: LiveServer, make_user: Callable[..., User], app_config: dict[str, Any],
        console_errors: list[str]) -> None:
    make_user()
    page.clock.install()
    sign_in(page, live_server)
    page.goto(live_server.url("/account/"))
    page.fill("#email", "alice.new@example.com")
    page.fill("#password", PASSWORD)
    page.click("#send-code")
    expect(page.locator("#change-email-submit")).to_be_enabled()
    for _ in range(5):
        page.fill("#change-code", "ZZZZZZ")
        with page.expect_response("**/account/email"):
            page.click("#change-email-submit")
    expect(page.locator("#change-state")).to_have_text(
        "That code was typed wrong too many times and no longer works. Send a new code in step 1.")
    expect(page.locator("#change-email-form")).to_be_hidden()
    expect(page.locator("#send-code-wait")).to_have_text(
        "Too many wrong codes: you can ask for a new code in 10 min.")
    expect(page.locator("#send-code")).to_be_disabled()
    page.reload()
    expect(page.locator("#send-code-wait")).to_have_text(
        "Too many wrong codes: you can ask for a new code in 10 min.")
    page.clock.run_for("10:01")
    expect(page.locator("#send-code")).to_be_enabled()
    assert console_errors == []
