"""In Chromium: a reset link refused with 550 suppresses the address; its owner sees the bounced
banner on the account page, and the admin finds out why in the per-address timeline and lifts it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask_mailroom.deliverability import suppression as deliverability
from playwright.sync_api import Page, expect

from mailroom.models import User
from tests.e2e.conftest import LiveServer
from tests.integration.mail.helpers import wait_for
from tests.support.accounts import without_signin_notices

PASSWORD = "correct horse battery"
ALICE = "alice@example.com"


def suppressed(app: Flask) -> bool:
    """Whether alice's address is suppressed now."""
    with app.app_context():
        return deliverability.suppression_of(ALICE) is not None


def sign_in(page: Page, live_server: LiveServer, username: str) -> None:
    """Sign in through the real form."""
    page.goto(live_server.url("/auth/login"))
    page.fill("#identifier", username)
    page.fill("#password", PASSWORD)
    page.click("#submit")
    expect(page.locator("#nav-user")).to_have_text(username)


def test_the_bounced_banner_and_the_admin_timeline(
        page: Page, live_server: LiveServer, make_user: Callable[..., User],
        screenshot: Callable[[Page, str], Path], console_errors: list[str]) -> None:
    make_user()
    make_user("root", "root@example.com")
    without_signin_notices(live_server.app)  # the timeline shows the reset alone
    with live_server.app.app_context():
        from mailroom.extensions import db
        from mailroom.services.accounts import find_by_email

        root = find_by_email("root@example.com")
        assert root is not None
        root.is_admin = True
        root.new_browser_check = False  # signs in by password alone (test_signin_code_browser.py: the check)
        db.session.commit()
    live_server.smtp.refuse_recipient(ALICE, "550 5.1.1 No such user here")

    page.goto(live_server.url("/auth/reset_password_request"))
    page.fill("#email", ALICE)
    page.click("#submit")
    assert wait_for(lambda: suppressed(live_server.app), 15), "the 550 did not suppress the address"

    sign_in(page, live_server, "alice")
    page.goto(live_server.url("/account/"))
    banner = page.locator("#bounced-banner")
    expect(banner).to_contain_text(f"Mail to {ALICE} bounced on March 2, 2026")
    expect(banner).to_contain_text("Change it below, or ask us to try again")
    screenshot(page, "account page with the bounced banner")
    page.click("#sign-out")

    sign_in(page, live_server, "root")
    page.goto(live_server.url("/admin/mail/addresses"))
    page.fill("#address", ALICE)
    page.click("#look-up")
    expect(page.locator("#suppression")).to_contain_text("hard bounce")
    whats = page.locator("#timeline .timeline-what")
    expect(whats).to_have_text(["bounced (hard)", "failed", "asked for"])  # newest first
    expect(page.locator("#timeline")).to_contain_text("550 5.1.1 No such user here")
    screenshot(page, "admin timeline for the address")
    page.click("#lift")
    expect(page.locator("#not-suppressed")).to_be_visible()
    expect(whats.first).to_have_text("suppression lifted")
    screenshot(page, "suppression lifted")
    assert console_errors == []
