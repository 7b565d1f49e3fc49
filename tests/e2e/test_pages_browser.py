"""Every page in Chromium at 360 px and 1,280 px: no sideways scrolling, no serious or critical
axe-core violation, screenshots at both widths; the navigation collapses on a phone; form errors are
tied to their fields and focused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_mailroom.compose.outbox import Envelope, build_message, queue
from playwright.sync_api import Page, expect

from mailroom.extensions import db
from mailroom.models import User
from mailroom.services import announcements, email_change, reset
from tests.e2e.conftest import LiveServer
from tests.support.accounts import without_browser_check
from tests.support.pages import accessibility_problems, assert_accessible, scroll_problems

PASSWORD = "correct horse battery"
WIDTHS = {"mobile": 360, "desktop": 1280}
DESKTOP_AXE = {"home", "account", "dashboard", "dev message"}


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Development mode, so the dev mailbox and the gallery are pages too."""
    return app_config | {"MAILROOM_ENV": "development", "MAIL_TRANSPORT": "devmail"}


def tokens(app: Flask, user_id: int) -> dict[str, str]:
    """Links that reach the token pages: reset, revert, unsubscribe."""
    with app.test_request_context():
        user = db.session.get(User, user_id)
        assert user is not None
        found = {"reset": reset.issue_link_token(user),
                 "revert": email_change.revert_token(user, "alice.old@example.com"),
                 "unsubscribe": user.unsubscribe_token}
        db.session.commit()
        return found


def seed(app: Flask, admin_id: int) -> dict[str, int]:
    """An announcement draft and one message in the dev mailbox; their ids."""
    with app.app_context():
        draft = announcements.create("Spring news", "We shipped a new account page.\n", author_id=admin_id)
        queue(build_message(Envelope(subject="Welcome to Mailroom", recipients=["zoe@example.com"]),
                            "Hello Zoë,\n\nLine two.\n", "<p>Hello Zoë</p>"))
        db.session.commit()
        return {"announcement": draft.id}


def check(page: Page, live_server: LiveServer, path: str, name: str,
          screenshot: Callable[[Page, str], Path]) -> list[str]:
    """Open a page at both widths: what does not fit the viewport or fails axe-core; a screenshot of each."""
    problems = []
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 800})
        page.goto(live_server.url(path))
        page.wait_for_load_state("load")
        problems += scroll_problems(page, f"{path} at {width} px")
        # axe at the phone width on every page; the desktop layout (navigation links shown) on some.
        if label == "mobile" or name in DESKTOP_AXE:
            problems += accessibility_problems(page, f"{path} at {width} px")
        screenshot(page, f"{name} {label}")
    return problems


@pytest.mark.slow
def test_every_page_fits_a_phone_and_passes_axe(
        page: Page, live_server: LiveServer, make_user: Callable[..., User],
        runner: Any, screenshot: Callable[[Page, str], Path], console_errors: list[str]) -> None:
    app = live_server.app
    alice = make_user(confirmed=False)
    links = tokens(app, alice.id)
    anonymous = [("/", "home"), ("/auth/login", "sign in"), ("/auth/register", "register"),
                 ("/auth/reset_password_request", "reset request"), ("/auth/login/email", "code request"),
                 (f"/auth/reset_password/{links['reset']}", "reset form"),
                 ("/auth/reset_password/not-a-token", "reset link problem"),
                 (f"/account/email/revert/{links['revert']}", "revert"),
                 ("/account/email/revert/not-a-token", "revert problem"),
                 (f"/unsubscribe/{links['unsubscribe']}", "unsubscribe"), ("/no-such-page", "not found")]
    problems = []
    for path, name in anonymous:
        problems += check(page, live_server, path, name, screenshot)

    root = make_user("root", "root@example.com")
    assert runner.invoke(args=["users", "grant-admin", "root@example.com"]).exit_code == 0
    without_browser_check(app, "root@example.com")
    ids = seed(app, root.id)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(live_server.url("/auth/login"))
    page.fill("#identifier", "root")
    page.fill("#password", PASSWORD)
    page.click("#submit")
    expect(page.locator("#nav-user")).to_have_text("root")
    signed_in = [("/account/", "account"), ("/admin/", "admin list"),
                 ("/admin/announcements/new", "admin new"),
                 (f"/admin/announcements/{ids['announcement']}", "admin announcement"),
                 ("/admin/dashboard?hours=24", "dashboard"), ("/dev/mail", "dev mailbox"),
                 ("/dev/mail/templates", "gallery")]
    for path, name in signed_in:
        problems += check(page, live_server, path, name, screenshot)
    page.goto(live_server.url("/dev/mail"))
    page.locator("#devmail-list a").first.wait_for()
    page.locator("#devmail-list a").first.click()
    page.wait_for_load_state("load")
    message = page.url.removeprefix(live_server.base_url)
    problems += check(page, live_server, message, "dev message", screenshot)
    assert problems == [], "\n".join(problems)
    assert console_errors == []


def test_the_navigation_collapses_and_form_errors_are_tied_and_focused(
        page: Page, live_server: LiveServer, screenshot: Callable[[Page, str], Path],
        console_errors: list[str]) -> None:
    page.set_viewport_size({"width": 360, "height": 800})
    page.goto(live_server.url("/"))
    expect(page.locator("#main-nav")).to_be_hidden()
    page.click("#nav-toggle")
    expect(page.locator("#main-nav")).to_be_visible()
    expect(page.locator("#nav-toggle")).to_have_attribute("aria-expanded", "true")
    screenshot(page, "navigation open on a phone")
    page.click("#main-nav >> text=Register")
    page.fill("#username", "bob")
    page.click("#submit")
    first = page.locator("[aria-invalid='true']").first
    expect(first).to_be_focused()
    described = first.get_attribute("aria-describedby") or ""
    expect(page.locator(f"#{described}")).to_be_visible()
    expect(page.locator(f"#{described}")).to_have_class("invalid-feedback")
    ring = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert ring == "solid", "the focused field shows the focus ring"
    assert_accessible(page, "register with errors")
    screenshot(page, "register errors focused")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.keyboard.press("Shift+Tab")
    page.goto(live_server.url("/"))
    page.keyboard.press("Tab")
    expect(page.locator(".navbar-brand")).to_be_focused()
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineColor")
    assert outline == "rgb(255, 191, 71)", "the focus ring on the dark navigation bar is the bright one"
    screenshot(page, "focus ring on the navigation bar")
    assert console_errors == []
