"""The development mailbox at /dev/mail: lists, renders safely, serves parts; absent outside development."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_mailroom.clock import FrozenClock
from flask_mailroom.compose.outbox import Attachment, Envelope, build_message, queue
from flask_mailroom.engine import background
from flask_mailroom.store import state as mail_state
from sqlalchemy import func, select

from mailroom import create_app
from mailroom.extensions import db
from mailroom.models import DevMail
from mailroom.state import state
from tests.conftest import base_config, csrf_token
from tests.integration.mail.helpers import wait_for

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
HTML = ('<h1>Reset</h1><p><a href="https://mailroom.test/reset/abc">Choose a new password</a></p>'
        '<script>alert(1)</script><a href="javascript:alert(2)">x</a>')


@pytest.fixture
def app_config() -> dict[str, Any]:
    """A development app: the worker delivers into the dev mailbox."""
    return {"MAILROOM_ENV": "development"}


def deliver_one(app: Flask, deliver: Callable[[], int]) -> int:
    """Queue a message with text, HTML and an attachment, deliver it; the dev mailbox id."""
    with app.app_context():
        envelope = Envelope(subject="Réinitialiser ✓", recipients=[("Zoë", "zoe@example.com")],
                            bcc=["audit@example.com"],
                            attachments=[Attachment("pixel.png", "image/png", PNG)])
        queue(build_message(envelope, "Open https://mailroom.test/reset/abc\n", HTML))
        db.session.commit()
    assert deliver() == 1
    with app.app_context():
        return int(db.session.scalar(select(func.max(DevMail.id))) or 0)


def test_the_worker_delivers_into_the_mailbox_and_the_list_shows_it(
        app: Flask, client: FlaskClient, deliver: Callable[[], int]) -> None:
    assert app.config["MAIL_TRANSPORT"] == "devmail"
    mail_id = deliver_one(app, deliver)
    page = client.get("/dev/mail")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Réinitialiser ✓" in text
    assert f'href="/dev/mail/{mail_id}"' in text
    assert "zoe@example.com, audit@example.com" in text
    assert 'href="/dev/mail"' in client.get("/").get_data(as_text=True), "linked from the navbar"


def test_a_message_shows_every_part(app: Flask, client: FlaskClient,
                                    deliver: Callable[[], int]) -> None:
    mail_id = deliver_one(app, deliver)
    page = client.get(f"/dev/mail/{mail_id}").get_data(as_text=True)
    frame = re.search(r"<iframe[^>]*>", page, re.S)
    assert frame is not None
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in frame.group(0)
    assert f'src="/dev/mail/{mail_id}/html"' in frame.group(0)
    assert "Open https://mailroom.test/reset/abc" in page
    assert '<a href="https://mailroom.test/reset/abc"' in page, "links of the HTML part listed"
    assert 'href="javascript:' not in page, "only web links are listed"
    assert "<script>alert(1)</script>" not in page
    assert re.search(r"<th[^>]*>Message-ID</th>", page)
    assert "Bcc" not in page
    assert "Content-Type: multipart/mixed" in page
    assert f'href="/dev/mail/{mail_id}/attachments/0">pixel.png</a>' in page


def test_the_html_part_is_served_under_a_csp_that_forbids_scripts_and_remote_loads(
        app: Flask, client: FlaskClient, deliver: Callable[[], int]) -> None:
    mail_id = deliver_one(app, deliver)
    response = client.get(f"/dev/mail/{mail_id}/html")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src" not in csp
    assert "sandbox" in csp
    assert "allow-scripts" not in csp
    assert "frame-ancestors 'self'" in csp
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert HTML in response.get_data(as_text=True)


def test_raw_source_and_attachments_download(app: Flask, client: FlaskClient,
                                             deliver: Callable[[], int]) -> None:
    mail_id = deliver_one(app, deliver)
    with app.app_context():
        stored = db.session.get(DevMail, mail_id)
        assert stored is not None
        raw = stored.raw
    response = client.get(f"/dev/mail/{mail_id}/raw")
    assert (response.mimetype, response.data) == ("text/plain", raw)
    download = client.get(f"/dev/mail/{mail_id}/attachments/0")
    assert download.data == PNG
    assert download.mimetype == "image/png"
    assert download.headers["Content-Disposition"] == "attachment; filename=pixel.png"
    assert client.get(f"/dev/mail/{mail_id}/attachments/1").status_code == 404
    assert client.get(f"/dev/mail/{mail_id + 1}").status_code == 404
    assert client.get(f"/dev/mail/{mail_id + 1}/html").status_code == 404


def test_the_mailbox_can_be_emptied(app: Flask, client: FlaskClient,
                                    deliver: Callable[[], int]) -> None:
    deliver_one(app, deliver)
    refused = client.post("/dev/mail/clear")
    assert refused.status_code == 400
    token = csrf_token(client, "/dev/mail")
    # It asks first, on a page of its own (the button is a link: no script needed).
    asked = client.get("/dev/mail/clear").get_data(as_text=True)
    assert "holds 1 message. Deleting it cannot be undone." in asked
    unconfirmed = client.post("/dev/mail/clear", data={"csrf_token": token})
    assert 'id="devmail-clear-confirm"' in unconfirmed.get_data(as_text=True)
    assert 'id="devmail-empty" hidden' in client.get("/dev/mail").get_data(as_text=True)
    response = client.post("/dev/mail/clear", data={"csrf_token": token, "confirmed": "yes"},
                           follow_redirects=True)
    assert "Removed 1 message(s)" in response.get_data(as_text=True)
    assert 'id="devmail-empty"' in response.get_data(as_text=True)


@pytest.mark.parametrize("mode", ["testing", "production"])
def test_the_mailbox_does_not_exist_outside_development(database_url: str, mode: str) -> None:
    app = create_app({**base_config(database_url), "MAILROOM_ENV": mode})
    client = app.test_client()
    for path in ("/dev/mail", "/dev/mail/", "/dev/mail/1", "/dev/mail/1/html", "/dev/mail/1/raw",
                 "/dev/mail/1/attachments/0"):
        assert client.get(path).status_code == 404, path
    assert client.post("/dev/mail/clear").status_code in {400, 404}
    assert "Dev mailbox" not in client.get("/").get_data(as_text=True)
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def inprocess_app(database_url: str, clock: FrozenClock) -> Iterator[Flask]:
    """A development app as ``make run`` starts it: no MAIL_SERVER, the in-process worker on."""
    app = create_app({**base_config(database_url), "MAILROOM_ENV": "development",
                      "MAIL_WORKER_INPROCESS": True})
    state(app).clock = clock
    yield app
    running = mail_state(app).services.get(background.SERVICE)
    if running is not None:
        running.stop()
        assert not running.thread.is_alive()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_in_development_the_first_request_starts_a_worker_that_fills_the_mailbox(
        inprocess_app: Flask) -> None:
    app = inprocess_app
    assert background.SERVICE not in mail_state(app).services
    app.test_client().get("/")
    assert background.SERVICE in mail_state(app).services
    with app.app_context():
        queue(build_message(Envelope(subject="Hello from make run", recipients=["a@example.com"]),
                            "Hi\n", "<p>Hi</p>"))
        db.session.commit()

    def arrived() -> bool:
        with app.app_context():
            return db.session.scalar(select(func.count()).select_from(DevMail)) == 1

    assert wait_for(arrived, 20)
    page = app.test_client().get("/dev/mail").get_data(as_text=True)
    assert "Hello from make run" in page


@pytest.mark.parametrize(("language", "via"), [("zh_Hans", "经由"), ("zh_Hant", "經由")])
def test_in_chinese_the_source_stays_english_and_the_zone_is_short(
        app: Flask, client: FlaskClient, deliver: Callable[[], int], language: str, via: str) -> None:
    mail_id = deliver_one(app, deliver)
    client.post("/language", data={"language": language, "csrf_token": csrf_token(client)})
    page = client.get(f"/dev/mail/{mail_id}").get_data(as_text=True)
    assert re.search(rf'（UTC），{via}<span translate="no" lang="en" id="devmail-source">\w+</span>', page)
    listing = client.get("/dev/mail").get_data(as_text=True)
    assert "（UTC）" in listing
    assert "世界时" not in page + listing
    assert "世界時" not in page + listing
