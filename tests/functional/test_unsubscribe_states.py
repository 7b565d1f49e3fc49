"""The unsubscribe page names the address and knows when it is already done."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from mailroom.models import User
from tests.functional.test_unsubscribe import ONE_CLICK, unsubscribe_path


def test_the_page_names_the_address_and_a_second_click_says_already_done(
        app: Flask, make_user: Callable[..., User]) -> None:
    make_user()
    path = unsubscribe_path(app)
    client = app.test_client()
    assert "<strong>alice@example.com</strong>" in client.get(path).get_data(as_text=True)
    first = client.post(path, data=ONE_CLICK).get_data(as_text=True)
    assert "You are unsubscribed" in first
    assert "<strong>alice@example.com</strong> will receive no more" in first
    again = client.get(path).get_data(as_text=True)
    assert "You are already unsubscribed" in again
    assert "Unsubscribe from announcements?" not in again
    assert "You are already unsubscribed" in client.post(path, data=ONE_CLICK).get_data(as_text=True)
    back = client.post(f"{path}/resubscribe").get_data(as_text=True)
    assert "You are subscribed again" in back
    assert "<strong>alice@example.com</strong>" in back
    assert "Unsubscribe from announcements?" in client.get(path).get_data(as_text=True)
