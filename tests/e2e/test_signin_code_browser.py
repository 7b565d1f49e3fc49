"""Sign-in by emailed code and the new-browser check in Chromium: the code read from the email that
reached the real SMTP server (aiosmtpd), the live countdown, axe on every new page, and a browser
that passed the check going straight in the next time."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from mailroom.extensions import db
from mailroom.models import User
from tests.e2e.conftest import LiveServer
from tests.support.outbox import code_in
from tests.support.pages import assert_accessible, assert_no_horizontal_scroll
from tests.support.smtp import Received

PASSWORD = "correct horse battery"
ALICE = "alice@example.com"
CODE_SUBJECT = "Your Mailroom sign-in code"
CHECK_SUBJECT = "Your Mailroom code for a new browser"


def make_admin(live_server: LiveServer, user_id: int) -> None:
    """Give the account the admin role: its new-browser check is on by default."""
    with live_server.app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        user.is_admin = True
        db.session.commit()


def delivered(mail_to: Callable[..., list[Received]], subject: str, count: int = 1) -> list[Received]:
    """The first ``count`` emails to alice with this subject, waiting for them."""
    found: list[Received] = []
    for total in range(count, count + 10):
        found = [m for m in mail_to(ALICE, total) if m.message["Subject"] == subject]
        if len(found) >= count:
            return found
    raise AssertionError(f"fewer than {count} emails {subject!r}")


def submit_password(page: Page, live_server: LiveServer) -> None:
    """Type alice's password on the sign-in page and press "Sign in"."""
    page.goto(live_server.url("/auth/login"))
    page.fill("#identifier", "alice")
    page.fill("#password", PASSWORD)
    page.click("#submit")


def test_sign_in_with_a_code_read_from_the_email(
        page: Page, live_server: LiveServer, make_user: Callable[..., User],
        mail_to: Callable[..., list[Received]], screenshot: Callable[[Page, str], Path],
        console_errors: list[str]) -> None:
    make_user()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server.url("/auth/login"))
    page.click("#email-me-a-code")
    expect(page.locator("h1")).to_have_text("Sign in with an emailed code")
    assert_accessible(page, "sign-in code request")
    page.fill("#email", ALICE)
    page.click("#submit")
    expect(page).to_have_url(live_server.url("/auth/login/code"))
    expect(page.locator("#signin-code-sent")).to_contain_text(ALICE)
    expiry = re.compile(r"The code works for [45] min(, \d+ sec)? more\.")
    expect(page.locator("#signin-code-expiry")).to_have_text(expiry)
    expect(page.locator("#signin-code-resend-wait")).to_contain_text("You can ask for a new code in")
    expect(page.locator("#signin-code-resend")).to_be_disabled()
    assert_accessible(page, "sign-in code page")
    screenshot(page, "the code page, counting down")

    page.fill("#code", "ZZZZZZ")
    page.click("#submit")
    expect(page.locator("#signin-code-said")).to_have_text("That code is not right: 2 tries left.")
    expect(page).to_have_url(live_server.url("/auth/login/code"))
    assert_accessible(page, "sign-in code page with an error")
    page.set_viewport_size({"width": 360, "height": 800})
    assert_no_horizontal_scroll(page, "sign-in code page at 360 px")
    screenshot(page, "mobile code page with an error")

    [message] = delivered(mail_to, CODE_SUBJECT)
    code = code_in(message.text())
    assert code in message.html()
    page.fill("#code", code.lower())
    page.click("#submit")
    expect(page.locator("#nav-user")).to_have_text("alice")
    screenshot(page, "signed in by code")
    page.goto(live_server.url("/account/"))
    expect(page.locator("#signin-codes")).to_be_checked()
    expect(page.locator(".browser-row")).to_have_count(1)
    assert console_errors == []


def test_a_new_browser_is_asked_for_a_code_then_trusted(
        page: Page, browser: Browser, live_server: LiveServer, make_user: Callable[..., User],
        mail_to: Callable[..., list[Received]], screenshot: Callable[[Page, str], Path],
        console_errors: list[str]) -> None:
    make_admin(live_server, make_user().id)
    page.set_viewport_size({"width": 1280, "height": 900})
    submit_password(page, live_server)
    expect(page).to_have_url(live_server.url("/auth/login/new-browser"))
    expect(page.locator("#new-browser-sent")).to_contain_text(ALICE)
    expect(page.locator("#nav-user")).to_have_count(0)
    expect(page.locator("#new-browser-expiry")).to_contain_text("The code works for")
    assert_accessible(page, "new-browser check page")
    screenshot(page, "a new browser asked for a code")

    [message] = delivered(mail_to, CHECK_SUBJECT)
    assert "Browser: Chrom" in message.text()
    page.fill("#code", code_in(message.text()))
    page.click("#submit")
    expect(page.locator("#nav-user")).to_have_text("alice")
    page.goto(live_server.url("/account/"))
    expect(page.locator("#new-browser-check")).to_be_checked()
    expect(page.locator(".browser-row")).to_have_count(1)
    page.click("#sign-out")
    expect(page.locator("#nav-user")).to_have_count(0)

    submit_password(page, live_server)
    expect(page.locator("#nav-user")).to_have_text("alice")
    assert page.url == live_server.url("/"), "the trusted browser went straight in"
    screenshot(page, "the trusted browser signed in with the password alone")

    other = browser.new_context()
    try:
        stranger = other.new_page()
        submit_password(stranger, live_server)
        expect(stranger).to_have_url(live_server.url("/auth/login/new-browser"))
    finally:
        other.close()
    assert len(delivered(mail_to, CHECK_SUBJECT, 2)) == 2, "only the other browser was asked again"
    assert console_errors == []


def posts_to(page: Page) -> list[str]:
    """Every POST the page sends from now on (its URL), as the browser sends it."""
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url) if request.method == "POST" else None)
    return sent


def wrong_code_then_reload_and_back(page: Page, said: str, answer: str) -> list[str]:
    """Type a wrong code, then reload and go Back and Forward; the POSTs sent meanwhile."""
    sent = posts_to(page)
    page.click("#submit")  # an empty code: refused, answered on the page
    expect(page.locator(said)).to_have_text("Enter the code from the email.")
    page.fill("#code", "ZZZZZZ")
    page.click("#submit")
    expect(page.locator(said)).to_have_text(answer)
    assert len(sent) == 2
    response = page.reload()
    assert response is not None
    assert response.status == 200
    expect(page.locator(said)).to_have_count(0)  # the answer is shown once
    page.go_back()
    page.go_forward()
    assert "405" not in page.content()
    return sent


@pytest.mark.parametrize("width", [390, 1280])
def test_a_wrong_code_answers_on_the_page_and_reload_or_back_never_posts_again(
        page: Page, live_server: LiveServer, make_user: Callable[..., User],
        screenshot: Callable[[Page, str], Path], console_errors: list[str], width: int) -> None:
    make_user()
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(live_server.url("/auth/login/email"))
    page.fill("#email", ALICE)
    page.click("#submit")
    expect(page).to_have_url(live_server.url("/auth/login/code"))
    sent = wrong_code_then_reload_and_back(page, "#signin-code-said", "That code is not right: 2 tries left.")
    screenshot(page, f"sign-in code page after a wrong code, a reload and Back at {width} px")
    assert sent == [live_server.url("/auth/login/code")] * 2, "reload and Back sent no form again"
    assert_accessible(page, "sign-in code page after a wrong code")
    assert_no_horizontal_scroll(page, f"sign-in code page at {width} px")
    assert console_errors == []


def test_a_wrong_code_for_a_new_browser_answers_on_the_page_and_reload_never_posts_again(
        page: Page, live_server: LiveServer, make_user: Callable[..., User],
        console_errors: list[str]) -> None:
    make_admin(live_server, make_user().id)
    page.set_viewport_size({"width": 390, "height": 900})
    submit_password(page, live_server)
    expect(page).to_have_url(live_server.url("/auth/login/new-browser"))
    sent = wrong_code_then_reload_and_back(page, "#new-browser-said", "That code is not right: 2 tries left.")
    assert sent == [live_server.url("/auth/login/new-browser")] * 2, "reload and Back sent no form again"
    assert_accessible(page, "new-browser page after a wrong code")
    assert console_errors == []
