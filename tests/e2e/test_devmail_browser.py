"""The development mailbox in Chromium: live arrival, search, text line breaks, preview modes,
link check, delete, gallery; accessible and without sideways scrolling at 360 px."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask_mailroom.compose.outbox import Envelope, build_message, queue
from playwright.sync_api import Page, expect

from mailroom.extensions import db
from mailroom.web.gallery import template_names
from tests.e2e.conftest import LiveServer
from tests.support.pages import assert_accessible, assert_no_horizontal_scroll

TEXT = ("Hello Zoë,\n\nThis is line two of Mailroom's message.\nAnd line three, with a long link:\n"
        "https://example.org/reset/" + "x" * 120 + "\n")


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Development mode, the worker delivering into the dev mailbox (not the test SMTP server)."""
    return app_config | {"MAILROOM_ENV": "development", "MAIL_TRANSPORT": "devmail"}


def send(app: Flask, subject: str, to: str, text: str, html: str | None = None) -> None:
    """Queue one message; the live server's worker delivers it into the mailbox."""
    with app.app_context():
        queue(build_message(Envelope(subject=subject, recipients=[to]), text, html))
        db.session.commit()


def test_the_mailbox_lists_live_searches_shows_text_and_deletes(
        page: Page, live_server: LiveServer, screenshot: Callable[[Page, str], Path],
        console_errors: list[str]) -> None:
    app = live_server.app
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server.url("/dev/mail"))
    expect(page.locator("#devmail-empty")).to_be_visible()

    send(app, "Welcome to Mailroom", "zoe@example.com", TEXT,
         f'<p>Hi</p><a href="{live_server.url("/auth/login")}">Sign in</a>'
         '<a href="https://tracker.example.com/x">elsewhere</a>')
    send(app, "Your code", "bob@example.org", "Code: QX7P2M\n")
    expect(page.locator("#devmail-list tbody tr")).to_have_count(2, timeout=10_000)
    expect(page.locator("#devmail-live")).to_contain_text("new message")
    screenshot(page, "desktop list after live arrival")

    page.fill("#devmail-search", "qx7p2m")
    page.click("#devmail-search-submit")
    expect(page.locator("#devmail-list tbody tr")).to_have_count(1)
    expect(page.locator("#devmail-list tbody tr")).to_contain_text("Your code")
    page.click("#devmail-search-clear")
    # "Show all" is a link: measure the unfiltered page, not the results page it replaces.
    expect(page.locator("#devmail-search-clear")).to_have_count(0)
    expect(page.locator("#devmail-list tbody tr")).to_have_count(2)

    page.set_viewport_size({"width": 360, "height": 800})
    assert_no_horizontal_scroll(page, "/dev/mail at 360 px")
    assert_accessible(page, "/dev/mail")
    screenshot(page, "mobile list")

    page.click("text=Welcome to Mailroom")
    page.wait_for_load_state("load")
    page.click("#tab-text")
    text = page.locator("#devmail-text")
    expect(text).to_be_visible()
    assert text.evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"
    assert text.evaluate("e => getComputedStyle(e).wordBreak") != "break-all", "words are never split"
    line_height = float(text.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)"))
    assert text.bounding_box()["height"] >= 5 * line_height, "line breaks kept"
    assert "line two of Mailroom's message.\nAnd line three" in text.inner_text()
    assert_no_horizontal_scroll(page, "message at 360 px")
    screenshot(page, "mobile text part keeps line breaks")

    page.click("#tab-links")
    page.click("#devmail-check-links")
    results = page.locator("#devmail-link-results tbody tr")
    expect(results).to_have_count(3)
    expect(results.nth(0)).to_contain_text("200")
    expect(results.nth(1)).to_contain_text("not requested")
    expect(results.nth(2)).to_contain_text("https://example.org/reset/")
    expect(results.nth(2)).to_contain_text("not requested")
    assert_accessible(page, "message, links tab")
    screenshot(page, "mobile link check")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.click("#tab-html")
    page.click("#preview-mobile")
    assert page.locator("#devmail-html").bounding_box()["width"] <= 376
    page.click("#preview-dark")
    expect(page.locator("#devmail-preview")).to_have_class("devmail-preview devmail-mobile devmail-dark")
    assert (page.locator("#devmail-html").get_attribute("src") or "").endswith("?scheme=dark")
    framed = page.frame_locator("#devmail-html")
    expect(framed.locator("body")).to_contain_text("Hi")
    assert "invert(1)" in framed.locator("html").evaluate("e => getComputedStyle(e).filter")
    screenshot(page, "desktop preview at mobile width in dark mode")
    assert_accessible(page, "message, HTML tab")

    page.click("#devmail-delete")
    expect(page.locator(".alert-success")).to_contain_text("Message deleted.")
    expect(page.locator("#devmail-list tbody tr")).to_have_count(1)
    page.click("#devmail-clear")
    page.click("#devmail-clear-confirm")
    expect(page.locator("#devmail-empty")).to_be_visible()
    assert console_errors == []


def test_the_gallery_shows_every_email_without_sending(
        page: Page, live_server: LiveServer, screenshot: Callable[[Page, str], Path],
        console_errors: list[str]) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server.url("/dev/mail"))
    page.click("#devmail-gallery-link")
    with live_server.app.app_context():
        every_email = template_names()
    assert len(every_email) >= 8
    # The page is large (every email framed) and may still be parsing: wait for every card.
    expect(page.locator(".gallery-email")).to_have_count(len(every_email))
    expect(page.locator(".gallery-error")).to_have_count(0)
    subject = page.locator("#email-reset_password .gallery-subject")
    expect(subject).to_have_text("Reset your Mailroom password")
    frame = page.frame_locator("#email-confirm_email iframe")
    expect(frame.locator("body")).to_contain_text("7KQ4MX")
    screenshot(page, "desktop gallery")
    page.set_viewport_size({"width": 360, "height": 800})
    assert_no_horizontal_scroll(page, "gallery at 360 px")
    assert_accessible(page, "gallery")
    screenshot(page, "mobile gallery")
    page.goto(live_server.url("/dev/mail"))
    expect(page.locator("#devmail-empty")).to_be_visible()
    assert console_errors == []
