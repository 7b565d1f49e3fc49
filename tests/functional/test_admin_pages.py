"""The admin's guards and honest status: a mass send needs the count confirmed, drafts change or go
until sending starts, the greeting is optional; the dashboard chart fits the measured width."""

from __future__ import annotations

import itertools
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_mailroom.clock import FrozenClock
from flask_mailroom.compose.outbox import Envelope, build_message, queue

from mailroom.extensions import db
from mailroom.models import Announcement, User
from mailroom.services import announcements
from tests.conftest import START, csrf_token
from tests.support.accounts import without_browser_check, without_signin_notices
from tests.support.announcements import add_users, outbox

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def admin(app: Flask, make_user: Callable[..., User], runner: FlaskCliRunner,
          login: Callable[..., Any]) -> User:
    """An admin made with the real command, signed in on the test client."""
    user = make_user("root", "root@example.com")
    assert runner.invoke(args=["users", "grant-admin", "root@example.com"]).exit_code == 0
    without_browser_check(app, "root@example.com")
    without_signin_notices(app, "root@example.com")
    login("root")
    return user


def post(client: FlaskClient, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    """POST a form with the session's CSRF token."""
    return client.post(path, data={"csrf_token": csrf_token(client), **(data or {})}, **kw)


def create(app: Flask, **kw: Any) -> int:
    """A draft made by the service; its id."""
    with app.app_context():
        return int(announcements.create("Spring news", "Hello all,\n\nThings grow.", **kw).id)


def finish_fan_out(app: Flask, announcement_id: int) -> None:
    """Wait for the background fan-out the send button started."""
    thread = announcements.running_fan_outs(app)[announcement_id]
    thread.join(timeout=30)
    assert not thread.is_alive()


def test_a_mass_send_needs_the_count_confirmed(app: Flask, client: FlaskClient, admin: User) -> None:
    add_users(app, 3)
    announcement_id = create(app)
    page = client.get(f"/admin/announcements/{announcement_id}/send").get_data(as_text=True)
    assert "Send “Spring news” to 4 recipients?" in page
    assert 'name="confirm_count" value="4"' in page
    unconfirmed = post(client, f"/admin/announcements/{announcement_id}/send")
    assert unconfirmed.status_code == 400
    assert "Yes, send to 4 recipients" in unconfirmed.get_data(as_text=True)
    stale = post(client, f"/admin/announcements/{announcement_id}/send", {"confirm_count": "3"})
    assert stale.status_code == 409
    assert "The number of recipients changed to 4" in stale.get_data(as_text=True)
    assert outbox(app) == [], "nothing queued without the right count"
    done = post(client, f"/admin/announcements/{announcement_id}/send", {"confirm_count": "4"},
                follow_redirects=True)
    assert "Sending has started" in done.get_data(as_text=True)
    finish_fan_out(app, announcement_id)
    assert len(outbox(app)) == 4


def status_badge(client: FlaskClient, announcement_id: int) -> str:
    """The status shown on the announcement's page."""
    page = client.get(f"/admin/announcements/{announcement_id}").get_data(as_text=True)
    found = re.search(r'id="announcement-status">([^<]*)<', page)
    assert found
    return found[1]


def test_the_status_follows_the_copies(app: Flask, client: FlaskClient, admin: User,
                                       deliver: Callable[[], int], smtp: Any) -> None:
    add_users(app, 2)
    announcement_id = create(app)
    assert status_badge(client, announcement_id) == "draft"
    post(client, f"/admin/announcements/{announcement_id}/send", {"confirm_count": "3"})
    finish_fan_out(app, announcement_id)
    assert status_badge(client, announcement_id) == "sending"
    smtp.refuse_recipient("user1@example.com", "550 5.1.1 no such user")
    assert deliver() == 3
    assert status_badge(client, announcement_id) == "partly failed"
    page = client.get(f"/admin/announcements/{announcement_id}").get_data(as_text=True)
    assert "2 of 3 delivered, 1 not delivered." in page
    assert ">partly failed<" in client.get("/admin/").get_data(as_text=True)


def test_drafts_can_be_edited_and_deleted_until_sending_starts(app: Flask, client: FlaskClient,
                                                               admin: User) -> None:
    announcement_id = create(app, markdown="**bold**")
    form = client.get(f"/admin/announcements/{announcement_id}/edit").get_data(as_text=True)
    assert "**bold**" in form, "the Markdown source comes back to edit"
    saved = post(client, f"/admin/announcements/{announcement_id}/edit",
                 {"subject": "Summer news", "text_body": "Hi,\n\nNew text.", "markdown_body": "*new*"},
                 follow_redirects=True)
    assert "Draft saved." in saved.get_data(as_text=True)
    with app.app_context():
        stored = db.session.get(Announcement, announcement_id)
        assert stored is not None
        assert (stored.subject, stored.greeting) == ("Summer news", False)
        assert stored.text_body == "Hi,\n\nNew text."
        assert stored.html_body == "<p><em>new</em></p>\n"
    refused = post(client, f"/admin/announcements/{announcement_id}/edit",
                   {"subject": "", "text_body": "x"})
    assert refused.status_code == 400
    assert 'aria-invalid="true"' in refused.get_data(as_text=True)

    post(client, f"/admin/announcements/{announcement_id}/send", {"confirm_count": "1"})
    finish_fan_out(app, announcement_id)
    late = post(client, f"/admin/announcements/{announcement_id}/delete", follow_redirects=True)
    assert "can no longer be changed or deleted" in late.get_data(as_text=True)
    again = post(client, f"/admin/announcements/{announcement_id}/edit",
                 {"subject": "Too late", "text_body": "x"}, follow_redirects=True)
    assert "can no longer be changed" in again.get_data(as_text=True)

    other = create(app)
    gone = post(client, f"/admin/announcements/{other}/delete", follow_redirects=True)
    assert "Draft “Spring news” deleted." in gone.get_data(as_text=True)
    assert client.get(f"/admin/announcements/{other}").status_code == 404
    assert post(client, f"/admin/announcements/{other}/delete").status_code == 404


def test_the_greeting_is_optional(app: Flask, client: FlaskClient, admin: User) -> None:
    with_greeting = create(app)
    without = create(app, greeting=False)
    page = client.get(f"/admin/announcements/{with_greeting}").get_data(as_text=True)
    assert "Hello root,\n\nHello all," in page
    page = client.get(f"/admin/announcements/{without}").get_data(as_text=True)
    assert "Hello root," not in page
    assert "Hello all," in page
    created = post(client, "/admin/announcements/new",
                   {"subject": "Plain", "text_body": "Dear readers,", "greeting": ""}, follow_redirects=True)
    assert "Hello root," not in created.get_data(as_text=True)


def sent_at(app: Flask, clock: FrozenClock, at: datetime) -> None:
    """An outbox row sent at ``at``."""
    with app.app_context():
        clock.set(at)
        row = queue(build_message(Envelope(subject="sent", recipients=["someone@example.com"]), "Hi.", None))
        row.status, row.sent_at = "sent", at
        db.session.commit()


def chart_of(html: str) -> ET.Element:
    """The SVG chart in a page or fragment."""
    found = re.search(r'<svg id="delivery-chart".*?</svg>', html, re.S)
    assert found
    return ET.fromstring(found.group(0))  # noqa: S314  (our own page, rendered in this test)


@pytest.mark.parametrize(("hours", "width", "bucket"), [(1, 1280, 1), (1, 360, 5), (3, 960, 5), (3, 1920, 1),
                                                        (24, 1920, 5), (24, 1280, 15), (24, 360, 30)])
def test_buckets_widen_with_the_window(client: FlaskClient, admin: User, hours: int, width: int,
                                       bucket: int) -> None:
    fragment = client.get(f"/admin/dashboard?hours={hours}&width={width}")
    assert fragment.status_code == 200
    assert fragment.headers["Cache-Control"] == "no-store"
    svg = chart_of(fragment.get_data(as_text=True))
    assert svg.get("data-bucket-minutes") == str(bucket)
    assert svg.get("viewBox") == f"0 0 {width}.0 260.0", "laid out at the measured width: text keeps its size"
    titles = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "axis-title"]
    per = "minute" if bucket == 1 else f"{bucket} minutes"
    assert titles == [f"Messages per {per}", "Time (UTC)"]
    x_labels = [float(t.get("x", "")) for t in svg.iter(f"{SVG}text") if t.get("class") == "x-label"]
    assert len(x_labels) >= 2
    assert min(b - a for a, b in itertools.pairwise(x_labels)) >= 56, "labels never overlap"


def test_the_chart_sums_minutes_into_buckets_with_round_ticks(app: Flask, client: FlaskClient, admin: User,
                                                              clock: FrozenClock) -> None:
    for minutes_ago, count in ((1, 3), (2, 4), (7, 6)):
        for _ in range(count):
            sent_at(app, clock, START - timedelta(minutes=minutes_ago))
    clock.set(START)
    svg = chart_of(client.get("/admin/dashboard?hours=1&width=360").get_data(as_text=True))
    bars = {r.get("data-minute"): int(r.get("data-count", "")) for r in svg.iter(f"{SVG}rect")
            if r.get("data-series") == "sent"}
    assert bars == {"2026-03-02T08:55": 7, "2026-03-02T08:50": 6}
    ticks = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "y-label"]
    assert ticks == ["0", "2", "4", "6", "8", "10"]
    assert client.get("/admin/dashboard?hours=25").status_code == 400


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("language", "heading"), [("zh_Hans", "将“Spring news”发送给4位"),
                                                  ("zh_Hant", "將「Spring news」寄送給4位")])
def test_the_confirmation_reads_in_chinese_with_the_count_as_its_plural(
        app: Flask, client: FlaskClient, admin: User, language: str, heading: str) -> None:
    # The heading's plural once took the subject (a string) as its number: a 500 in Chinese.
    add_users(app, 3)
    announcement_id = create(app)
    with app.app_context():
        db.session.execute(db.update(User).where(User.id == admin.id).values(language=language))
        db.session.commit()
    page = client.get(f"/admin/announcements/{announcement_id}/send")
    assert page.status_code == 200
    title = re.search(r'id="confirm-title">([^<]+)<', page.get_data(as_text=True))
    assert title is not None
    assert heading in title.group(1)
