"""One-click unsubscribe (RFC 8058): a POST without cookies or CSRF acts, a GET only asks."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from flask import Flask

from mailroom.models import User
from mailroom.services import announcements
from tests.support.announcements import outbox, rendered, user_named

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    """A confirmed, subscribed user."""
    return make_user()


def unsubscribe_path(app: Flask) -> str:
    """The path of the List-Unsubscribe link in the copy of an announcement alice received."""
    with app.app_context():
        announcement = announcements.create("News", "Hello.")
        announcements.send(announcement.id)
    [row] = outbox(app)
    link = rendered(app, row)["List-Unsubscribe"].strip()
    assert link.startswith("<https://mailroom.test/unsubscribe/")
    assert link.endswith(">")
    return urlsplit(link[1:-1]).path


def test_a_get_asks_and_changes_nothing(app: Flask, alice: User) -> None:
    path = unsubscribe_path(app)
    response = app.test_client().get(path)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Unsubscribe from announcements?" in page
    assert f'action="{path}"' in page
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert user_named(app, "alice").subscribed is True


def test_a_one_click_post_without_cookies_or_csrf_unsubscribes(app: Flask, alice: User) -> None:
    path = unsubscribe_path(app)
    client = app.test_client(use_cookies=False)
    response = client.post(path, data=ONE_CLICK)
    assert response.status_code == 200
    assert "You are unsubscribed" in response.get_data(as_text=True)
    assert user_named(app, "alice").subscribed is False
    again = client.post(path, data=ONE_CLICK)
    assert again.status_code == 200


def test_other_posts_still_need_a_csrf_token(app: Flask, alice: User) -> None:
    response = app.test_client(use_cookies=False).post("/auth/logout")
    assert response.status_code == 400


def test_an_unsubscribed_user_is_left_out_of_the_next_announcement(
        app: Flask, alice: User, make_user: Callable[..., User]) -> None:
    make_user("bob", "bob@example.com")
    with app.app_context():
        announcements.set_subscribed(user_named(app, "alice").unsubscribe_token, False)
        result = announcements.send(announcements.create("News", "Hello.").id)
    assert (result.recipients, result.not_eligible) == (1, 1)
    assert [r.recipients for r in outbox(app)] == [["bob@example.com"]]


def test_the_same_link_can_subscribe_again(app: Flask, alice: User) -> None:
    path = unsubscribe_path(app)
    client = app.test_client(use_cookies=False)
    client.post(path, data=ONE_CLICK)
    response = client.post(f"{path}/resubscribe")
    assert response.status_code == 200
    assert user_named(app, "alice").subscribed is True


@pytest.mark.parametrize("token", ["not-a-real-token", "x" * 65, "%00", "a" * 32])
def test_unknown_links_are_a_404_and_change_nothing(app: Flask, alice: User, token: str) -> None:
    client = app.test_client(use_cookies=False)
    for response in (client.get(f"/unsubscribe/{token}"),
                     client.post(f"/unsubscribe/{token}", data=ONE_CLICK)):
        assert response.status_code == 404
        assert "not valid" in response.get_data(as_text=True)
    assert user_named(app, "alice").subscribed is True


def test_the_token_must_match_exactly(app: Flask, alice: User) -> None:
    token = user_named(app, "alice").unsubscribe_token
    changed = token.swapcase() if token.swapcase() != token else token[:-1] + "A"
    response = app.test_client().post(f"/unsubscribe/{changed}", data=ONE_CLICK)
    assert response.status_code == 404
    assert user_named(app, "alice").subscribed is True
