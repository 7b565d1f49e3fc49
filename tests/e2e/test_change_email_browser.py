"""Change of address in Chromium: "Send code" over AJAX, the code typed from the delivered email."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

from mailroom.models import User
from tests.e2e.conftest import LiveServer
from tests.support.accounts import without_signin_notices
from tests.support.pages import sign_in as sign_in_as

PASSWORD = "correct horse battery"
OLD = "alice@example.com"
NEW = "alice.new@example.com"
CODE_LINE = re.compile(r"^ {4}([A-Z2-9]{6})\r?$", re.MULTILINE)


def sign_in(page: Page, live_server: LiveServer) -> None:
    """Sign in as alice through the real form."""
    sign_in_as(page, live_server.base_url, "alice", PASSWORD)


def test_change_address_with_the_emailed_code(
        page: Page, live_server: LiveServer, make_user: Callable[..., User],
        screenshot: Callable[[Page, str], Path], mail_to: Callable[..., list[Any]],
        console_errors: list[str]) -> None:
    make_user()
    without_signin_notices(live_server.app)
    sign_in(page, live_server)
    page.goto(live_server.url("/account/"))
    expect(page.locator("#account-email")).to_have_text(OLD)
    screenshot(page, "account page")

    page.fill("#email", NEW)
    page.fill("#password", "not my password")
    with page.expect_response("**/account/email/code") as refused:
        page.click("#send-code")
    assert refused.value.status == 400
    expect(page.locator("#password-error")).to_contain_text("not your current password")
    screenshot(page, "wrong password shown beside the field")

    page.fill("#password", PASSWORD)
    with page.expect_response("**/account/email/code") as sent:
        page.click("#send-code")
    request = sent.value.request
    assert request.method == "POST"
    assert request.header_value("x-csrftoken") == page.get_attribute('meta[name="csrf-token"]',
                                                                     "content")
    assert request.post_data_json == {"email": NEW, "password": PASSWORD}
    assert sent.value.json()["data"] == {"email": NEW, "resend_after": 60, "expires_in": 600}
    expect(page.locator("#change-state")).to_contain_text(f"We sent a code to {NEW}")
    expect(page.locator("#send-code")).to_be_disabled()
    expect(page.locator("#send-code-wait")).to_contain_text("You can ask for a new code in")
    expect(page.locator("#password-error")).to_have_count(0)
    screenshot(page, "code sent")

    [mail] = mail_to(NEW)
    found = CODE_LINE.search(mail.text())
    assert found
    page.fill("#change-code", found.group(1).lower())
    screenshot(page, "code typed from the email")
    with page.expect_response("**/account/email") as changed:
        page.click("#change-email-submit")
    assert changed.value.status == 200
    expect(page.locator("#account-email")).to_have_text(NEW)
    expect(page.locator("#email-status")).to_have_text("confirmed")
    expect(page.locator("#email-change-message")).to_contain_text(f"Your address is now {NEW}")
    screenshot(page, "address changed on screen")

    page.reload()
    expect(page.locator("#account-email")).to_have_text(NEW)
    [notice] = mail_to(OLD)
    assert NEW in notice.text()
    assert live_server.url("/account/email/revert/") in notice.text()
    assert console_errors == []
