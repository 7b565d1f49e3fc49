"""The reset email is filled from a layout rendered once per language: each person's copy reads
exactly as its templates render it whole, with their own name and link, and a copy the server
deferred is sent again byte for byte (built once, stored with the outcome of its first attempt)."""

from __future__ import annotations

import email
import re
from collections.abc import Callable
from email.header import decode_header, make_header
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_mailroom.compose import render_pair

from mailroom.extensions import db
from mailroom.models import User
from mailroom.services import reset
from mailroom.urls import external_url
from tests.conftest import csrf_token
from tests.support.outbox import outbox
from tests.support.reset_links import open_link
from tests.support.smtp import SMTPServer

LINK = re.compile(r"https://\S+/auth/reset_password/([\w\-]+\.[\w\-]+\.[\w\-]+)")


def ask_for_link(client: FlaskClient, address: str) -> None:
    """Post the reset request form."""
    data = {"email": address, "csrf_token": csrf_token(client, "/auth/reset_password_request")}
    assert client.post("/auth/reset_password_request", data=data).status_code == 302


def decoded_to(data: bytes) -> str:
    """The To header as RFC 2047 reads it (the standard library's address parser keeps the folding
    space between two encoded words of a name, which the RFC says to drop)."""
    raw = email.message_from_bytes(data)["To"]
    return str(make_header(decode_header(raw)))


def speaking(app: Flask, username: str, language: str) -> None:
    """Set the account's language."""
    with app.app_context():
        user = db.session.query(User).filter_by(username=username).one()
        user.language = language
        db.session.commit()


@pytest.mark.parametrize(("name", "language"), [
    ("alice", "en"),
    ("Åsa.O-Brien", "en"),
    ("李明_Zoë_" + "ü" * 40, "zh_Hans"),  # encoded words, folded over several lines
    ("陳大文", "zh_Hant"),
])
def test_each_reset_email_reads_as_its_templates_render_it_whole(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User], name: str, language: str) -> None:
    make_user(name, "reader@example.com")
    speaking(app, name, language)
    ask_for_link(client, "Reader@Example.com")
    assert deliver() == 1
    [received] = smtp.wait_for(1)
    link = LINK.search(received.text())
    assert link is not None
    with app.app_context():
        context = {"name": name, "link": link.group(0), "lifetime": reset.ttl_seconds(),
                   "request_link": external_url("reset.reset_password_request")}
        whole = render_pair(reset.LINK_TEMPLATE, context, locale=language)
    message = received.message
    assert (decoded_to(received.data), received.rcpt_tos) == (f"{name} <reader@example.com>",
                                                              ["reader@example.com"])
    assert message["Subject"] == whole.subject
    assert message["Auto-Submitted"] == "auto-generated"
    assert received.text().replace("\r\n", "\n").rstrip("\n") == whole.text.rstrip("\n")
    assert received.html().replace("\r\n", "\n").rstrip("\n") == whole.html.rstrip("\n")
    assert open_link(client, link.group(1)).status_code == 200


def test_a_reset_email_the_server_deferred_goes_again_byte_for_byte(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User], clock: Any) -> None:
    make_user()
    smtp.fail_data("450 4.2.1 Mailbox busy, try again later")
    ask_for_link(client, "alice@example.com")
    deliver()
    [refused] = smtp.rejected
    [row] = outbox(app)
    assert (row.status, row.subject, row.recipients) == ("queued", refused.message["Subject"],
                                                          ["alice@example.com"])
    assert row.raw  # stored until its final outcome
    clock.advance(minutes=2)  # the retry is due; the link still works
    assert deliver() == 1
    [again] = smtp.wait_for(1)
    assert again.data == refused.data
    [sent] = outbox(app)
    assert (sent.status, sent.subject, sent.raw) == ("sent", row.subject, b"")  # the link leaves


def test_a_reset_email_sent_at_once_is_recorded_with_its_subject_and_without_its_link(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        make_user: Callable[..., User]) -> None:
    make_user()
    ask_for_link(client, "alice@example.com")
    deliver()
    [arrived] = smtp.wait_for(1)
    [row] = outbox(app)
    assert (row.status, row.subject, row.sender, row.recipients, row.raw) == (
        "sent", arrived.message["Subject"], arrived.mail_from, ["alice@example.com"], b"")
