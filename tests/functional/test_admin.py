"""The admin area: who may enter, writing, previewing and sending announcements, and the dashboard."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_mailroom.clock import FrozenClock
from flask_mailroom.compose.outbox import Attachment, Envelope, build_message, queue
from flask_mailroom.engine import heartbeats

from mailroom.extensions import db
from mailroom.models import Announcement, User
from mailroom.services import announcements
from tests.conftest import START, csrf_token
from tests.support.accounts import without_browser_check, without_signin_notices
from tests.support.announcements import add_users, outbox
from tests.support.smtp import SMTPServer

SVG = "{http://www.w3.org/2000/svg}"
PAGES = ["/admin/", "/admin/announcements/new", "/admin/dashboard", "/admin/announcements/1",
         "/admin/announcements/1/preview.html"]
ACTIONS = ["/admin/announcements/1/preview", "/admin/announcements/1/send", "/admin/outbox/retry"]


@pytest.fixture
def admin(app: Flask, make_user: Callable[..., User], runner: FlaskCliRunner,
          login: Callable[..., Any]) -> User:
    """An admin made with the real command, signed in on the test client."""
    user = make_user("root", "root@example.com")
    result = runner.invoke(args=["users", "grant-admin", "root@example.com"])
    assert result.exit_code == 0, result.output
    without_browser_check(app, "root@example.com")
    without_signin_notices(app, "root@example.com")
    login("root")
    return user


def draft(app: Flask, subject: str = "Spring news") -> int:
    """An announcement stored directly; returns its id."""
    with app.app_context():
        announcement = Announcement(subject=subject, text_body="Things are growing.", html_body=None,
                                    created_at=START, status="draft", recipients_total=0,
                                    queued_count=0)
        db.session.add(announcement)
        db.session.commit()
        return int(announcement.id)


def post(client: FlaskClient, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    """POST a form with the session's CSRF token."""
    return client.post(path, data={"csrf_token": csrf_token(client), **(data or {})}, **kw)


# --- access ----------------------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(app: Flask, client: FlaskClient) -> None:
    draft(app)
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.location.startswith("/auth/login?next="), path


def test_signed_in_users_who_are_not_admins_get_403(app: Flask, client: FlaskClient,
                                                    make_user: Callable[..., User],
                                                    login: Callable[..., Any]) -> None:
    make_user()
    make_user("bob", "bob@example.com")
    without_signin_notices(app)
    draft(app)
    login()
    for path in PAGES:
        assert client.get(path).status_code == 403, path
    for path in ACTIONS:
        assert post(client, path).status_code == 403, path
    assert client.get("/admin/", headers={"Accept": "application/json"}).json["code"] == 403
    assert outbox(app) == []
    assert "/admin/" not in client.get("/").get_data(as_text=True)


def test_admins_get_in_and_see_the_link(app: Flask, client: FlaskClient, admin: User) -> None:
    draft(app)
    for path in PAGES:
        assert client.get(path).status_code == 200, path
    assert 'href="/admin/"' in client.get("/").get_data(as_text=True)


def test_unknown_announcements_are_a_404(client: FlaskClient, admin: User) -> None:
    assert client.get("/admin/announcements/999").status_code == 404
    assert post(client, "/admin/announcements/999/send").status_code == 404
    assert post(client, "/admin/announcements/999/preview").status_code == 404


# --- writing, preview, sending ---------------------------------------------------------------


def test_an_announcement_is_written_with_markdown_and_files(app: Flask, client: FlaskClient,
                                                            admin: User) -> None:
    pdf = b"%PDF-1.4\n\x00\xff binary \r\n tail"
    response = post(client, "/admin/announcements/new", {
        "subject": "Spring news", "text_body": "Things are growing.",
        "markdown_body": "**Things** are <em>growing</em>.",
        "attachments": [(io.BytesIO(pdf), "plan.pdf", "application/pdf"),
                        (io.BytesIO(b"a,b\n1,2\n"), "../../etc/data.csv", "")],
    }, content_type="multipart/form-data")
    assert response.status_code == 302
    assert response.location == "/admin/announcements/1"
    with app.app_context():
        stored = db.session.get(Announcement, 1)
        assert stored.status == "draft"
        assert stored.created_by_id == admin.id
        assert stored.html_body == "<p><strong>Things</strong> are &lt;em&gt;growing&lt;/em&gt;.</p>\n"
        assert [(f.filename, f.content_type, f.data) for f in stored.attachments] == [
            ("plan.pdf", "application/pdf", pdf), ("data.csv", "text/csv", b"a,b\n1,2\n")]


# Input refused by validation: the database cannot change the outcome, so one is enough.
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("fields", "error_id"), [
    ({"subject": "", "text_body": "Body"}, "subject-error"),
    ({"subject": "Hi\x0bthere", "text_body": "Body"}, "subject-error"),
    ({"subject": "s" * 201, "text_body": "Body"}, "subject-error"),
    ({"subject": "Hi", "text_body": ""}, "text_body-error"),
    ({"subject": "Hi", "text_body": "Body\x00"}, "text_body-error"),
    ({"subject": "Hi", "text_body": "Body", "markdown_body": "x" * 100_001}, "markdown_body-error"),
])
def test_bad_fields_get_a_message_beside_the_field(app: Flask, client: FlaskClient, admin: User,
                                                   fields: dict[str, str], error_id: str) -> None:
    response = post(client, "/admin/announcements/new", fields)
    assert response.status_code == 400
    assert f'id="{error_id}"' in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Announcement)) == 0


def test_too_many_files_are_refused_beside_the_field(client: FlaskClient, admin: User) -> None:
    files = [(io.BytesIO(b"x"), f"f{i}.txt", "text/plain") for i in range(11)]
    response = post(client, "/admin/announcements/new",
                    {"subject": "Hi", "text_body": "Body", "attachments": files},
                    content_type="multipart/form-data")
    assert response.status_code == 400
    assert 'id="attachments-error"' in response.get_data(as_text=True)


def test_the_announcement_page_shows_it_as_the_admin_would_receive_it(
        app: Flask, client: FlaskClient, admin: User) -> None:
    add_users(app, 3)
    announcement_id = draft(app)
    page = client.get(f"/admin/announcements/{announcement_id}").get_data(as_text=True)
    assert "Hello root," in page
    assert "Things are growing." in page
    assert re.search(r'id="eligible-now">4<', page)
    framed = client.get(f"/admin/announcements/{announcement_id}/preview.html")
    assert "Hello root," in framed.get_data(as_text=True)
    assert framed.headers["Content-Security-Policy"].startswith("sandbox;")
    assert framed.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_preview_goes_to_the_admin_alone(app: Flask, client: FlaskClient, admin: User) -> None:
    add_users(app, 3)
    announcement_id = draft(app)
    response = post(client, f"/admin/announcements/{announcement_id}/preview", follow_redirects=True)
    assert "A preview is on its way to root@example.com." in response.get_data(as_text=True)
    [row] = outbox(app)
    assert row.recipients == ["root@example.com"]
    assert row.subject == "[Preview] Spring news"


def finish_fan_out(app: Flask, announcement_id: int) -> None:
    """Wait for the background fan-out the send button started."""
    thread = announcements.running_fan_outs(app)[announcement_id]
    thread.join(timeout=30)
    assert not thread.is_alive()


def test_send_fans_out_in_the_background_and_the_page_counts_the_copies(
        app: Flask, client: FlaskClient, admin: User) -> None:
    add_users(app, 5)
    add_users(app, 2, "unconfirmed", confirmed=False)
    add_users(app, 2, "gone", subscribed=False)
    announcement_id = draft(app)
    response = post(client, f"/admin/announcements/{announcement_id}/send", {"confirm_count": "6"},
                    follow_redirects=True)
    assert "Sending has started" in response.get_data(as_text=True)
    finish_fan_out(app, announcement_id)
    page = client.get(f"/admin/announcements/{announcement_id}").get_data(as_text=True)
    assert re.search(r'id="count-queued">6<', page)
    assert re.search(r'id="announcement-status">sending<', page), "queued copies are still on their way"
    post(client, f"/admin/announcements/{announcement_id}/send", {"confirm_count": "6"})
    finish_fan_out(app, announcement_id)
    assert sorted(r.recipients[0] for r in outbox(app)) == sorted(
        [f"user{i}@example.com" for i in range(5)] + ["root@example.com"])
    listing = client.get("/admin/").get_data(as_text=True)
    assert "Spring news" in listing
    assert ">sending<" in listing


def test_after_delivery_and_purge_the_pages_still_show_the_announcement(
        app: Flask, client: FlaskClient, admin: User, smtp: SMTPServer, clock: FrozenClock,
        runner: FlaskCliRunner, deliver: Callable[[], int]) -> None:
    add_users(app, 3)
    with app.app_context():
        announcement_id = announcements.create("Spring news", "Things are growing.", attachments=[
            Attachment("plan.pdf", "application/pdf", b"%PDF" * 100)]).id
    smtp.refuse_recipient("user2@example.com")
    post(client, f"/admin/announcements/{announcement_id}/send", {"confirm_count": "4"})
    finish_fan_out(app, announcement_id)
    assert deliver() == 4
    clock.advance(minutes=1)
    assert "bodies of 4 message(s)" in runner.invoke(args=["mail", "purge", "--days", "0"]).output
    page = client.get(f"/admin/announcements/{announcement_id}").get_data(as_text=True)
    assert re.search(r'id="count-sent">3<', page)
    assert re.search(r'id="count-failed">1<', page)
    assert "plan.pdf" in page
    assert "400 bytes" in page
    assert "Hello root," in page
    dashboard = client.get("/admin/dashboard").get_data(as_text=True)
    assert "Spring news" in dashboard
    assert "user2@example.com" in dashboard


# --- dashboard -------------------------------------------------------------------------------


def put(app: Flask, clock: FrozenClock, status: str, at: datetime, error: str | None = None) -> int:
    """An outbox row written at ``at`` and now in ``status`` (sent or failed at ``at``)."""
    with app.app_context():
        clock.set(at)
        row = queue(build_message(Envelope(subject=f"{status} at {at:%H:%M:%S}",
                                           recipients=["someone@example.com"]), "Hello.", None))
        row.status = status
        row.sent_at = at if status == "sent" else None
        row.failed_at = at if status == "failed" else None
        row.last_error = error
        db.session.commit()
        return int(row.id)


def chart(page: str) -> ET.Element:
    """The dashboard's SVG chart, parsed."""
    found = re.search(r'<svg id="delivery-chart".*?</svg>', page, re.S)
    assert found, "no chart on the page"
    return ET.fromstring(found.group(0))  # noqa: S314  (our own page, rendered in this test)


def bars(svg: ET.Element) -> dict[tuple[str, str], ET.Element]:
    """The chart's bars keyed by (series, minute)."""
    return {(r.get("data-series", ""), r.get("data-minute", "")): r for r in svg.iter(f"{SVG}rect")}


def test_counts_and_the_oldest_queued_age(app: Flask, client: FlaskClient, admin: User,
                                          clock: FrozenClock) -> None:
    put(app, clock, "queued", START - timedelta(minutes=10))
    put(app, clock, "queued", START - timedelta(minutes=5))
    put(app, clock, "sending", START - timedelta(minutes=1))
    for _ in range(3):
        put(app, clock, "sent", START - timedelta(minutes=2))
    put(app, clock, "failed", START - timedelta(minutes=2), "550 No such user")
    clock.set(START)
    page = client.get("/admin/dashboard").get_data(as_text=True)
    for status, count in {"queued": 2, "sending": 1, "sent": 3, "failed": 1}.items():
        assert re.search(rf'id="count-{status}">{count}<', page), status
    assert 'data-seconds="600.0">10 min 0 s<' in page


def test_the_engine_panel_shows_lanes_rate_and_each_workers_breaker(
        app: Flask, client: FlaskClient, admin: User, clock: FrozenClock) -> None:
    put(app, clock, "queued", START - timedelta(minutes=1))
    put(app, clock, "sending", START - timedelta(minutes=1))
    for _ in range(6):
        put(app, clock, "sent", START - timedelta(seconds=30))
    clock.set(START)
    page = client.get("/admin/dashboard").get_data(as_text=True)
    assert re.search(r'id="lane-transactional">.*?lane-queued">1<.*?lane-due">1<.*?lane-in-flight">1<',
                     page, re.S)
    assert re.search(r'id="lane-bulk">.*?lane-queued">0<', page, re.S)
    assert 'id="current-rate">0.1/s<' in page
    assert 'id="breaker">closed<' in page
    assert 'id="no-workers"' in page
    with app.app_context(), db.engine.connect() as connection:
        heartbeats.publish(connection, "host:42:abc", {
            "seen_at": START, "connections": 8, "reserved": 1, "in_flight": 3, "sent": 10,
            "failed": 0, "throttled": 0, "unreachable": 4, "rate": 2.5, "breaker": "open"})
    page = client.get("/admin/dashboard").get_data(as_text=True)
    assert 'id="breaker">open<' in page
    assert "<code>host:42:abc</code>" in page
    assert "8 (1 reserved)" in page


def test_the_chart_draws_sent_and_failed_per_minute(app: Flask, client: FlaskClient, admin: User,
                                                    clock: FrozenClock) -> None:
    at = START  # 09:00:00 UTC; the 3-hour window runs from 06:01 to 09:00 inclusive.
    put(app, clock, "sent", at - timedelta(hours=3, seconds=1))  # 05:59:59, outside
    put(app, clock, "sent", at - timedelta(minutes=179))  # 06:01:00
    for seconds in (10, 30, 59):
        put(app, clock, "sent", at - timedelta(minutes=3) + timedelta(seconds=seconds))  # 08:57
    put(app, clock, "sent", at - timedelta(seconds=45))  # 08:59:15
    put(app, clock, "failed", at - timedelta(seconds=30), "451 try later")  # 08:59:30
    put(app, clock, "failed", at - timedelta(seconds=1), "451 try later")  # 08:59:59
    for seconds in (0, 5, 10, 15):
        put(app, clock, "sent", at + timedelta(seconds=seconds))  # 09:00
    clock.set(at + timedelta(seconds=20))

    page = client.get("/admin/dashboard?width=1920").get_data(as_text=True)
    svg = chart(page)
    found = bars(svg)
    expected = {("sent", "2026-03-02T06:01"): 1, ("sent", "2026-03-02T08:57"): 3,
                ("sent", "2026-03-02T08:59"): 1, ("failed", "2026-03-02T08:59"): 2,
                ("sent", "2026-03-02T09:00"): 4}
    assert {key: int(r.get("data-count", "")) for key, r in found.items() if key[0]} == expected
    assert svg.get("data-y-max") == "5"
    plot_height = float(svg.get("data-plot-height", ""))
    for key, count in expected.items():
        assert float(found[key].get("height", "")) == pytest.approx(plot_height * count / 5, abs=0.01)
    xs = [float(found[key].get("x", "")) for key in sorted(expected, key=lambda k: (k[1], k[0] != "sent"))]
    assert xs == sorted(xs)
    ticks = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "y-label"]
    assert ticks == ["0", "1", "2", "3", "4", "5"]
    assert "06:30" in [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "x-label"]
    assert 'id="total-sent">9<' in page
    assert 'id="total-failed">2<' in page

    one_hour = bars(chart(client.get("/admin/dashboard?hours=1&width=1920").get_data(as_text=True)))
    assert ("sent", "2026-03-02T06:01") not in one_hour
    assert ("sent", "2026-03-02T08:57") in one_hour


# Input refused by validation: the database cannot change the outcome, so one is enough.
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("hours", ["0", "25", "abc", "-1", "1.5"])
def test_a_bad_period_is_refused_with_a_message(client: FlaskClient, admin: User, hours: str) -> None:
    response = client.get(f"/admin/dashboard?hours={hours}")
    assert response.status_code == 400
    assert "hours must be a whole number from 1 to 24." in response.get_data(as_text=True)


def test_failures_are_listed_and_can_be_retried(app: Flask, client: FlaskClient, admin: User,
                                                clock: FrozenClock, smtp: SMTPServer,
                                                deliver: Callable[[], int]) -> None:
    first = put(app, clock, "failed", START - timedelta(minutes=3), "550 mailbox unavailable")
    second = put(app, clock, "failed", START - timedelta(minutes=2), "451 greylisted")
    clock.set(START)
    page = client.get("/admin/dashboard").get_data(as_text=True)
    assert "550 mailbox unavailable" in page
    assert "451 greylisted" in page
    assert page.index(f'id="failure-{second}"') < page.index(f'id="failure-{first}"')

    response = post(client, "/admin/outbox/retry", {"message_id": str(first)}, follow_redirects=True)
    assert "1 failed message(s) queued again." in response.get_data(as_text=True)
    assert deliver() == 1
    assert [m.message["Subject"] for m in smtp.wait_for(1)] == ["failed at 08:57:00"]
    assert {r.id: r.status for r in outbox(app)} == {first: "sent", second: "failed"}

    post(client, "/admin/outbox/retry")
    assert {r.id: (r.status, r.attempts) for r in outbox(app)} == {first: ("sent", 1),
                                                                   second: ("queued", 0)}
    assert post(client, "/admin/outbox/retry", {"message_id": "x1"}).status_code == 400

