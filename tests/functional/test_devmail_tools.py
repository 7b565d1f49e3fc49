"""The development mailbox's tools: search, live list JSON, delete one, .eml, size, dark preview,
link check (loopback only) and the template gallery."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_mailroom.compose.outbox import Envelope, build_message, queue
from flask_mailroom.devmail import mailbox
from sqlalchemy import func, select

from mailroom import create_app
from mailroom.extensions import db
from mailroom.models import DevMail, OutboxMessage
from mailroom.web import gallery
from tests.conftest import base_config, csrf_token


@pytest.fixture
def app_config() -> dict[str, Any]:
    """A development app: the worker delivers into the dev mailbox."""
    return {"MAILROOM_ENV": "development"}


@pytest.fixture
def send(app: Flask, deliver: Callable[[], int]) -> Callable[..., int]:
    """Deliver one message into the mailbox; its id."""

    def one(subject: str, to: str, text: str, html: str | None = None) -> int:
        with app.app_context():
            queue(build_message(Envelope(subject=subject, recipients=[to]), text, html))
            db.session.commit()
        assert deliver() == 1
        with app.app_context():
            return int(db.session.scalar(select(func.max(DevMail.id))) or 0)

    return one


def listed_subjects(client: FlaskClient, query: str) -> list[str]:
    """The subjects the live-list JSON gives for a search."""
    reply = client.get("/dev/mail/messages", query_string={"q": query}).get_json()
    return [m["subject"] for m in reply["data"]["messages"]]


def test_search_matches_subject_addresses_and_body(client: FlaskClient, send: Callable[..., int]) -> None:
    send("Reset your password", "alice@example.com", "Open the link\n")
    send("Your code", "bob@example.org", "The code is QX7P2M\n", "<p>Code <b>QX7P2M</b></p>")
    send("Welcome", "carol@example.net", "Hello Carol\n")
    assert listed_subjects(client, "reset") == ["Reset your password"]
    assert listed_subjects(client, "BOB@example") == ["Your code"]
    assert listed_subjects(client, "qx7p2m") == ["Your code"], "body text, any letter case"
    assert listed_subjects(client, "hello carol") == ["Welcome"], "every word must match"
    assert listed_subjects(client, "hello bob") == []
    assert listed_subjects(client, "") == ["Welcome", "Your code", "Reset your password"]
    page = client.get("/dev/mail?q=code").get_data(as_text=True)
    assert "Your code" in page
    assert "Welcome" not in page
    assert 'value="code"' in page, "the search box keeps the words"
    empty = client.get("/dev/mail?q=nothing-matches").get_data(as_text=True)
    assert "No message matches" in empty


def test_one_message_can_be_deleted_and_downloaded_as_eml(app: Flask, client: FlaskClient,
                                                          send: Callable[..., int]) -> None:
    keep = send("Keep me", "a@example.com", "one\n")
    drop = send("Drop: me?", "b@example.com", "two\n")
    download = client.get(f"/dev/mail/{drop}.eml")
    assert download.mimetype == "message/rfc822"
    assert download.headers["Content-Disposition"] == f"attachment; filename=Drop-me-{drop}.eml"
    with app.app_context():
        row = db.session.get(DevMail, drop)
        assert row is not None
        assert download.data == row.raw
    assert client.post(f"/dev/mail/{drop}/delete").status_code == 400, "CSRF token required"
    token = csrf_token(client, "/dev/mail")
    done = client.post(f"/dev/mail/{drop}/delete", data={"csrf_token": token}, follow_redirects=True)
    assert "Message deleted." in done.get_data(as_text=True)
    assert client.get(f"/dev/mail/{drop}").status_code == 404
    assert client.get(f"/dev/mail/{keep}").status_code == 200
    assert client.post(f"/dev/mail/{drop}/delete", data={"csrf_token": token}).status_code == 404


def test_html_size_is_measured_against_gmails_clip(app: Flask, client: FlaskClient,
                                                   send: Callable[..., int]) -> None:
    small = send("Small", "a@example.com", "x\n", "<p>" + "é" * 100 + "</p>")
    large = send("Large", "a@example.com", "x\n", "<p>" + "x" * (102 * 1024) + "</p>")
    with app.app_context():
        small_html = mailbox.html_part(small)
    assert small_html.startswith("<p>" + "é" * 100 + "</p>")
    assert size_line(client, small).startswith(f"{len(small_html.encode())} bytes"), "UTF-8 bytes, é twice"
    assert len(small_html.encode()) > len(small_html) + 99
    assert "not clipped by Gmail" in size_line(client, small)
    assert size_line(client, large).startswith("104,4")
    assert "Gmail clips this message" in size_line(client, large)


def size_line(client: FlaskClient, mail_id: int) -> str:
    """The text of the HTML size line of a message page."""
    page = client.get(f"/dev/mail/{mail_id}").get_data(as_text=True)
    found = re.search(r'id="devmail-html-size">(.*?)</dd>', page, re.S)
    assert found is not None
    return " ".join(re.sub(r"<[^>]+>", " ", found[1]).split())


def test_dark_preview_uses_the_messages_dark_styles_or_inverts(client: FlaskClient,
                                                               send: Callable[..., int]) -> None:
    styled = send("Styled", "a@example.com", "x\n",
                  "<style>@media (prefers-color-scheme: dark) { p { color: #eee } }"
                  "@media (prefers-color-scheme: light) { p { color: #111 } }</style><p>Hi</p>")
    plain = send("Plain", "a@example.com", "x\n", "<p>Hi</p>")
    dark = client.get(f"/dev/mail/{styled}/html?scheme=dark").get_data(as_text=True)
    assert "@media (min-width: 0px) { p { color: #eee } }" in dark
    assert "@media (max-width: 0px) { p { color: #111 } }" in dark
    assert "invert(1)" not in dark
    inverted = client.get(f"/dev/mail/{plain}/html?scheme=dark")
    assert "invert(1)" in inverted.get_data(as_text=True)
    assert "default-src 'none'" in inverted.headers["Content-Security-Policy"]
    assert "invert(1)" not in client.get(f"/dev/mail/{plain}/html").get_data(as_text=True)


class _Site(BaseHTTPRequestHandler):
    """A loopback site: /ok answers 200, /moved redirects, anything else 404; records each request."""

    seen: list[tuple[str, str]] = []

    def do_HEAD(self) -> None:
        """Answer by path."""
        _Site.seen.append((self.command, self.path))
        status = {"/ok": 200, "/moved": 302}.get(self.path.split("?")[0], 404)
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "https://elsewhere.example/")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""


@pytest.fixture
def loopback_site() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1; its base URL."""
    _Site.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_link_check_requests_loopback_links_only(client: FlaskClient, send: Callable[..., int],
                                                 loopback_site: str) -> None:
    html = (f'<a href="{loopback_site}/ok?t=1">ok</a> <a href="{loopback_site}/gone">gone</a>'
            f'<a href="{loopback_site}/moved">moved</a> <a href="https://tracker.example.com/c?u=1">x</a>'
            '<a href="mailto:help@example.com">help</a>')
    by_name = loopback_site.replace("127.0.0.1", "localhost")
    mail_id = send("Links", "a@example.com", f"Also {by_name}/ok\n", html)
    reply = client.get(f"/dev/mail/{mail_id}/links").get_json()
    found = {link["url"]: link for link in reply["data"]["links"]}
    assert list(found) == [f"{loopback_site}/ok?t=1", f"{loopback_site}/gone", f"{loopback_site}/moved",
                           "https://tracker.example.com/c?u=1", "mailto:help@example.com",
                           f"{by_name}/ok"]
    assert (found[f"{loopback_site}/ok?t=1"]["status"], found[f"{loopback_site}/ok?t=1"]["ok"]) == (200, True)
    assert (found[f"{loopback_site}/gone"]["status"], found[f"{loopback_site}/gone"]["ok"]) == (404, False)
    assert found[f"{loopback_site}/moved"]["status"] == 302
    assert "redirects to https://elsewhere.example/" in found[f"{loopback_site}/moved"]["note"]
    external = found["https://tracker.example.com/c?u=1"]
    assert (external["checked"], external["status"]) == (False, None)
    assert "not checked" in external["note"]
    assert found["mailto:help@example.com"]["checked"] is False
    expected = [("HEAD", "/gone"), ("HEAD", "/moved"), ("HEAD", "/ok"), ("HEAD", "/ok?t=1")]
    assert sorted(_Site.seen) == expected, \
        "each loopback link requested once, the redirect not followed"


def test_the_gallery_renders_every_email_with_sample_data_and_sends_nothing(
        app: Flask, client: FlaskClient) -> None:
    with app.test_request_context():
        names = gallery.template_names()
    assert {"reset_password", "confirm_email", "email_change_code", "announcement"} <= set(names)
    assert set(names) <= set(gallery.SAMPLES), "every email template pair has sample data"
    page = client.get("/dev/mail/templates").get_data(as_text=True)
    assert page.count('class="card mb-4 gallery-email"') == len(names)
    assert "gallery-error" not in page, "every sample renders (strictly: no missing variable)"
    assert "7KQ4MX" in page, "the sample code shows in the text part"
    for name in names:
        frame = client.get(f"/dev/mail/templates/{name}.html")
        assert frame.status_code == 200
        assert "default-src 'none'" in frame.headers["Content-Security-Policy"]
        assert "<html" in frame.get_data(as_text=True).lower()
    assert client.get("/dev/mail/templates/nope.html").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        assert db.session.scalar(select(func.count()).select_from(DevMail)) == 0


def test_a_missing_sample_variable_is_reported_not_blank(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(gallery.SAMPLES, "test", lambda: gallery.Sample({"address": "a@b.c"}))
    with app.test_request_context():
        rendered = gallery.render("test")
    assert rendered.error is not None
    assert "sent_at" in rendered.error


def test_the_gallery_does_not_exist_outside_development(database_url: str) -> None:
    app = create_app({**base_config(database_url), "MAILROOM_ENV": "production"})
    client = app.test_client()
    for path in ("/dev/mail/templates", "/dev/mail/templates/test.html", "/dev/mail/1.eml",
                 "/dev/mail/1/links", "/dev/mail/messages"):
        assert client.get(path).status_code == 404, path
    with app.app_context():
        db.engine.dispose()
