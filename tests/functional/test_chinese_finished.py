"""Chinese pages finished: an address refused in our own translated words (pages and JSON), and the
time zone menu in the reader's language, grouped by region, without the tz database's old aliases."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailroom.extensions import db
from mailroom.models import User
from tests.conftest import csrf_token
from tests.support.crawl import latin_left
from tests.support.languages import PASSWORD, add_speaker

OPTION = re.compile(r'<option value="([^"]+)"( selected)?>([^<]*)</option>')


def register(client: FlaskClient, email: str) -> str:
    """The registration page's answer to an address, from a Taiwanese browser."""
    data = {"username": "陈伟", "email": email, "password": PASSWORD, "password2": PASSWORD,
            "timezone": "Asia/Taipei", "csrf_token": csrf_token(client, "/auth/register")}
    response = client.post("/auth/register", data=data, headers={"Accept-Language": "zh-TW"})
    assert response.status_code == 400
    return response.get_data(as_text=True)


@pytest.mark.parametrize(("email", "sentence"), [
    ("chen wei@example.com", "不是有效的電子郵件地址：地址中不能有空格。"),
    ("chen.example.com", "不是有效的電子郵件地址：名稱和網域之間需要一個 @，例如 name@example.com。"),
    ("chen＠example.com", "不是有效的電子郵件地址：請使用半形的 @，不要使用全形的 ＠。"),
    ("chen@example", "不是有效的電子郵件地址：@ 後面的網域無效（應類似 example.com）。"),
    ("ch(en@example.com", "不是有效的電子郵件地址：@ 前面不能有這些字元：(。"),
])
def test_a_refused_address_is_told_in_our_own_words(client: FlaskClient, email: str, sentence: str) -> None:
    page = register(client, email)
    assert sentence in page
    assert "@-sign" not in page


def test_the_json_refusal_is_ours_too(client: FlaskClient, app: Flask, login: Callable[..., Any]) -> None:
    add_speaker(app, "wei", "wei@example.com", "zh_Hans")
    assert login("wei").status_code == 302
    response = client.post("/account/email/code", json={"email": "wei new@example.com", "password": PASSWORD},
                           headers={"Accept": "application/json",
                                    "X-CSRFToken": csrf_token(client, "/account/")})
    assert response.status_code == 400
    assert response.json["data"]["field"] == "email"
    assert response.json["message"] == "不是有效的电子邮件地址：地址中不能有空格。"


def options(page: str) -> list[tuple[str, bool, str]]:
    """The time zone menu's options: value, whether selected, label."""
    start = page.index('id="timezone-select"')
    menu = page[start:page.index("</select>", start)]
    return [(value, bool(selected), label) for value, selected, label in OPTION.findall(menu)]


def account_page(client: FlaskClient, app: Flask, login: Callable[..., Any], language: str,
                 zone: str) -> str:
    """The account page of a reader of ``language`` whose stored zone is ``zone``."""
    user_id = add_speaker(app, "mei", "mei@example.com", language, "UTC")
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        user.timezone = zone  # stored as an older version of the site may have stored it
        db.session.commit()
    assert login("mei").status_code == 302
    return client.get("/account/").get_data(as_text=True)


def test_the_time_zone_menu_speaks_the_readers_language_by_region(
        client: FlaskClient, app: Flask, login: Callable[..., Any]) -> None:
    page = account_page(client, app, login, "zh_Hant", "Asia/Taipei")
    found = options(page)
    values = [value for value, _, _ in found]
    assert '<optgroup label="亞洲">' in page
    assert '<optgroup label="歐洲">' in page
    assert ("Asia/Taipei", True, "（GMT+08:00）台北，台灣") in found
    assert values[0] == "UTC"
    assert "Europe/London" in values
    assert "Asia/Kolkata" in values
    assert not {"US/Eastern", "Asia/Calcutta", "Asia/Saigon", "Etc/GMT+8", "GMT"} & set(values)
    assert 350 < len(values) < 450
    assert len(values) == len(set(values))
    assert not latin_left([label for _, _, label in found], ())


def test_an_old_alias_shows_as_its_place_and_can_still_be_saved(client: FlaskClient, app: Flask,
                                                                  login: Callable[..., Any]) -> None:
    page = account_page(client, app, login, "zh_Hans", "Asia/Calcutta")  # what some browsers report
    chosen = [(value, label) for value, selected, label in options(page) if selected]
    assert chosen == [("Asia/Kolkata", "（GMT+05:30）加尔各答，印度")]
    saved = client.post("/account/language", data={"language": "zh_Hans", "timezone": "US/Eastern",
                                                    "csrf_token": csrf_token(client, "/account/")})
    assert saved.status_code == 303


def test_a_zone_no_longer_listed_stays_chosen(client: FlaskClient, app: Flask,
                                              login: Callable[..., Any]) -> None:
    page = account_page(client, app, login, "zh_Hans", "Etc/GMT-8")
    assert options(page)[0] == ("Etc/GMT-8", True, "Etc/GMT-8（已不在列表中）")
    assert [value for value, selected, _ in options(page) if selected] == ["Etc/GMT-8"]
