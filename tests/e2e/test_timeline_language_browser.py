"""An address's timeline in Chromium, read by an admin in Chinese on a phone: each reflowed cell's
label ends in a full-width colon, the details our code writes are Chinese, and a server's reply stays
as written, marked as English."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask_mailroom.deliverability import suppression as deliverability
from playwright.sync_api import Page, expect

from mailroom.extensions import db
from mailroom.models import User
from mailroom.services import accounts
from tests.e2e.conftest import LiveServer
from tests.support.accounts import without_browser_check
from tests.support.pages import assert_accessible, assert_no_horizontal_scroll

PASSWORD = "correct horse battery"
ALICE = "alice@example.com"
REFUSAL = "550 5.1.1 user unknown"
SKIPPED = {"zh_Hans": "超出频率限制（经由重设密码请求）", "zh_Hant": "超出頻率限制（經由重設密碼請求）"}
LABEL = "content => getComputedStyle(content, '::before').content"


def admin_in(live_server: LiveServer, make_user: Callable[..., User], runner: Any, language: str) -> None:
    """An admin reading in ``language``, and an address with a skipped request and a bounce."""
    admin = make_user("root", "root@example.com")
    assert runner.invoke(args=["users", "grant-admin", "root@example.com"]).exit_code == 0
    without_browser_check(live_server.app, "root@example.com")
    with live_server.app.app_context():
        user = db.session.get(User, admin.id)
        assert user is not None
        accounts.set_language(user, language, "Asia/Shanghai")
        deliverability.record_skip(ALICE, "rate limited", "reset request")
        deliverability.record_bounce(ALICE, "hard", "smtp", REFUSAL)
        db.session.commit()


@pytest.mark.parametrize("language", ["zh_Hans", "zh_Hant"])
def test_the_timeline_on_a_phone_reads_chinese_with_full_width_colons(
        page: Page, live_server: LiveServer, make_user: Callable[..., User], runner: Any,
        screenshot: Callable[[Page, str], Path], console_errors: list[str], language: str) -> None:
    admin_in(live_server, make_user, runner, language)
    page.set_viewport_size({"width": 390, "height": 900})
    page.goto(live_server.url("/auth/login"))
    page.fill("#identifier", "root")
    page.fill("#password", PASSWORD)
    page.click("#submit")
    page.goto(live_server.url(f"/admin/mail/addresses?address={ALICE}"))
    rows = page.locator("#timeline tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.last.locator(".timeline-detail")).to_have_text(SKIPPED[language])
    reply = rows.first.locator(".timeline-detail code").first
    expect(reply).to_have_text(REFUSAL)
    expect(reply).to_have_attribute("lang", "en")
    expect(reply).to_have_attribute("translate", "no")
    for cell in rows.first.locator("td[data-label]").all():
        label = cell.evaluate(LABEL)
        assert label.endswith('："'), label
        assert ": " not in label, label
    assert_no_horizontal_scroll(page, f"timeline in {language} at 390 px")
    assert_accessible(page, f"timeline in {language} on a phone")
    screenshot(page, f"timeline in {language} on a phone")
    assert console_errors == []
