"""The dev mailbox's link check against the running site: a page that needs the database answers
(no false "timed out" while the check holds a transaction), and a server that answers one request at
a time is reported as such instead of timing out."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select
from werkzeug.serving import BaseWSGIServer, make_server

from flask_mailroom import Message
from flask_mailroom.engine.worker import Worker

from support.apps import Note, host_app, host_config


def _lock_on_begin(engine: Any) -> None:
    """SQLite as a web host often sets it up: every transaction takes the write lock at BEGIN."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        """Emit BEGIN ourselves, and wait for a lock as long as a web request would."""
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA busy_timeout=15000")

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        """BEGIN IMMEDIATE: the write lock up front (unless a host's own hook has begun already)."""
        if not connection.connection.dbapi_connection.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def _site(tmp_path: Path, threaded: bool) -> Iterator[tuple[Flask, str]]:
    """A host app served over real HTTP on a loopback port, with a page that reads the database."""
    app, db, mail = host_app(host_config(f"sqlite:///{tmp_path / 'site.sqlite3'}",
                                         DEBUG=True, TESTING=False,
                                         MAIL_TRANSPORT="devmail", SECRET_KEY="host-secret-" + "x" * 20))

    @app.get("/notes")
    def notes() -> str:
        """A page that needs the database, as an unsubscribe or revert page does."""
        return str(len(db.session.scalars(select(Note)).all()))

    server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=threaded)
    site = f"http://127.0.0.1:{server.server_port}"
    app.config["SERVER_NAME"] = site.removeprefix("http://")
    with app.app_context():
        _lock_on_begin(db.engine)
        db.create_all()
        mail.upgrade()
        mail.send(Message("Links", recipients=["ann@example.com"], body="See the notes.",
                          html=f'<a href="{site}/notes">notes</a>'))
    assert Worker(app).drain() == 1
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, site
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def threaded_site(tmp_path: Path) -> Iterator[tuple[Flask, str]]:
    """The site on a threaded server (as ``flask run`` serves it)."""
    yield from _site(tmp_path, threaded=True)


@pytest.fixture
def single_site(tmp_path: Path) -> Iterator[tuple[Flask, str]]:
    """The site on a server that answers one request at a time."""
    yield from _site(tmp_path, threaded=False)


def _links(site: str) -> list[dict[str, Any]]:
    """The link check of the first message, asked of the running site."""
    with urllib.request.urlopen(f"{site}/dev/mail/1/links", timeout=30) as reply:  # noqa: S310 (loopback)
        links: list[dict[str, Any]] = json.load(reply)["data"]["links"]
    return links


def test_a_page_that_needs_the_database_answers_the_check(threaded_site: tuple[Flask, str]) -> None:
    _, site = threaded_site
    [link] = _links(site)
    assert (link["url"], link["status"], link["ok"]) == (f"{site}/notes", 200, True)
    assert link["elapsed_ms"] < 3000
    assert link["note"] == f"OK in {link['elapsed_ms']} ms"


def test_a_server_answering_one_request_at_a_time_is_named_not_timed_out(
        single_site: tuple[Flask, str]) -> None:
    _, site = single_site
    [link] = _links(site)
    assert (link["checked"], link["status"]) == (False, None)
    assert "one request at a time" in link["note"]
