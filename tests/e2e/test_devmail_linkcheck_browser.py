"""The dev mailbox's link check against the running site: the revert and unsubscribe links, whose
pages read the database, answer (no false "no answer: timed out"); From, To and Date are shown; "Delete
all" asks first."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask_mailroom.compose.outbox import Envelope, build_message, queue
from playwright.sync_api import Page, expect

from mailroom.extensions import db
from mailroom.models import User
from mailroom.services import email_change
from tests.e2e.conftest import LiveServer


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Development mode, the worker delivering into the dev mailbox."""
    return app_config | {"MAILROOM_ENV": "development", "MAIL_TRANSPORT": "devmail"}


def test_the_link_check_answers_for_revert_and_unsubscribe_links(
        page: Page, live_server: LiveServer, make_user: Callable[..., User],
        screenshot: Callable[[Page, str], Path], console_errors: list[str]) -> None:
    alice = make_user()
    app = live_server.app
    with app.app_context():
        user = db.session.get(User, alice.id)
        assert user is not None
        # The link the old address gets after a change: it names the address to put back.
        token = email_change.revert_token(user, "alice.old@example.com")
        revert = live_server.url(f"/account/email/revert/{token}")
        unsubscribe = live_server.url(f"/unsubscribe/{user.unsubscribe_token}")
        html = f'<a href="{revert}">Undo</a> <a href="{unsubscribe}">Unsubscribe</a>'
        queue(build_message(Envelope(subject="Links to check", recipients=["alice@example.com"]),
                            f"{revert}\n{unsubscribe}\n", html))
        db.session.commit()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server.url("/dev/mail"))
    page.click("text=Links to check", timeout=10_000)
    expect(page.locator("#devmail-header-from")).not_to_be_empty()
    expect(page.locator("#devmail-header-to")).to_contain_text("alice@example.com")
    expect(page.locator("#devmail-header-date time")).to_be_visible()
    page.click("#tab-links")
    page.click("#devmail-check-links")
    results = page.locator("#devmail-link-results tbody tr")
    expect(results).to_have_count(2)
    for row in (results.nth(0), results.nth(1)):
        expect(row).to_contain_text("200", timeout=10_000)
        expect(row).not_to_contain_text("no answer")
        expect(row).to_contain_text(" ms")
    screenshot(page, "link check on revert and unsubscribe links")
    page.goto(live_server.url("/dev/mail"))
    page.click("#devmail-clear")
    expect(page.locator("#devmail-clear-title")).to_be_visible()
    page.click("#devmail-clear-cancel")
    expect(page.locator("#devmail-list tbody tr")).to_have_count(1)
    page.click("#devmail-clear")
    page.click("#devmail-clear-confirm")
    expect(page.locator("#devmail-empty")).to_be_visible()
    assert console_errors == []
