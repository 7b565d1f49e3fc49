"""The registration code page in each state, the reset "check your email" page with the pause, and
the unsubscribe pages: no English left on a Chinese page, and every element id used once."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask_mailroom.clock import FrozenClock

from mailroom.models import User
from tests.conftest import csrf_token
from tests.functional.test_registration import enter, register
from tests.functional.test_unsubscribe import ONE_CLICK, unsubscribe_path
from tests.support.crawl import duplicate_ids, latin_left, read

BROWSER_LANGUAGE = {"en": "en", "zh_Hans": "zh-CN", "zh_Hant": "zh-TW"}
DATA = ("new@example.com", "alice@example.com")


def check(language: str, pages: dict[str, str]) -> None:
    """Each page uses every id once and, in Chinese, leaves no English."""
    for name, page in pages.items():
        assert not duplicate_ids(page), (name, duplicate_ids(page))
        if language != "en":
            assert not latin_left(read(page).segments, DATA), (name, latin_left(read(page).segments, DATA))


@pytest.mark.parametrize("app_config", [{"RATELIMIT_RESET_PER_ADDRESS": "1 per hour"}])
@pytest.mark.parametrize("language", ["en", "zh_Hans", "zh_Hant"])
def test_every_state_reads_in_the_pages_language(app: Flask, clock: FrozenClock, language: str,
                                                 make_user: Callable[..., User]) -> None:
    make_user()
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = BROWSER_LANGUAGE[language]
    path = unsubscribe_path(app)  # first: it reads the only message in the outbox
    pages = {"unsubscribe": client.get(path).get_data(as_text=True),
             "unsubscribed": client.post(path, data=ONE_CLICK).get_data(as_text=True),
             "already": client.post(path, data=ONE_CLICK).get_data(as_text=True),
             "resubscribed": client.post(f"{path}/resubscribe").get_data(as_text=True)}
    register(client, "newcomer", "new@example.com")
    pages["pending"] = client.get("/auth/register/code").get_data(as_text=True)
    for _ in range(5):
        enter(client, "ABCDEF")
    pages["void"] = client.get("/auth/register/code").get_data(as_text=True)
    clock.advance(601)
    pages["expired"] = client.get("/auth/register/code").get_data(as_text=True)
    for _ in range(2):
        client.post("/auth/reset_password_request", data={
            "email": "new@example.com", "csrf_token": csrf_token(client, "/auth/reset_password_request")})
    pages["reset sent"] = client.get("/auth/reset_password/sent").get_data(as_text=True)
    assert 'id="reset-paused"' in pages["reset sent"]
    check(language, pages)
