"""The development mailbox in a host that is not Mailroom: mounted by init_app, on only in development."""

from __future__ import annotations

from typing import Any

import pytest

from flask_mailroom import Message
from flask_mailroom.engine.worker import Worker

from support.apps import host_app, host_config


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("debug", [True, False])
def test_the_dev_mailbox_shows_delivered_mail_in_development_only(
        database_url: str, debug: bool) -> None:
    app, db, mail = host_app(host_config(database_url, TESTING=False, DEBUG=debug,
                                         MAIL_TRANSPORT="devmail", SECRET_KEY="host-secret-" + "x" * 20))
    assert app.config["MAIL_DEV_MAILBOX"] is debug
    client = app.test_client()
    with app.app_context():
        db.create_all()
        mail.upgrade()
        mail.send(Message("Hello <dev>", recipients=["ann@example.com"], body="Plain body",
                          html="<p>Rich <b>body</b></p>"))
    assert Worker(app).drain() == 1
    listing = client.get("/dev/mail")
    if not debug:
        assert listing.status_code == 404
        assert client.get("/dev/mail/1").status_code == 404
        return
    page = listing.get_data(as_text=True)
    assert listing.status_code == 200
    assert "Hello &lt;dev&gt;" in page
    assert "<!doctype html>" in page.lower()
    message = client.get("/dev/mail/1").get_data(as_text=True)
    assert "Plain body" in message
    framed = client.get("/dev/mail/1/html")
    assert "script-src" not in framed.headers["Content-Security-Policy"]
    assert "default-src 'none'" in framed.headers["Content-Security-Policy"]
    with client.get("/dev/mail/static/devmail.js") as script:
        assert script.status_code == 200
    assert "Delete all messages?" in client.post("/dev/mail/clear").get_data(as_text=True)
    assert "Hello &lt;dev&gt;" in client.get("/dev/mail").get_data(as_text=True)
    assert client.post("/dev/mail/clear", data={"confirmed": "yes"}).status_code == 302
    assert "Hello &lt;dev&gt;" not in client.get("/dev/mail").get_data(as_text=True)
    with app.app_context():
        db.engine.dispose()


def test_a_host_can_mount_the_mailbox_elsewhere(tmp_path: Any) -> None:
    app, _, _ = host_app(host_config(f"sqlite:///{tmp_path / 'h.sqlite3'}", DEBUG=True,
                                     MAIL_DEV_MAILBOX_URL="/_mail"))
    assert {rule.rule for rule in app.url_map.iter_rules()} >= {"/_mail", "/_mail/<int:mail_id>"}
