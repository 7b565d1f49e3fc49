"""Which language a page speaks: stored choice, then the menu's cookie, then Accept-Language, then
English; registration stores the browser's language and time zone; usernames in any script."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailroom.i18n import LANGUAGE_COOKIE
from mailroom.models import User
from tests.conftest import csrf_token
from tests.support.accounts import stored_user
from tests.support.languages import PASSWORD, add_speaker


def lang_of(page: str) -> str:
    """The lang attribute of the page's html element."""
    start = page.index("<html lang=\"") + len("<html lang=\"")
    return page[start:page.index("\"", start)]


def get(client: FlaskClient, path: str, accept: str | None = None) -> str:
    """A page as text, with an Accept-Language header when given."""
    headers = {"Accept-Language": accept} if accept else {}
    response = client.get(path, headers=headers)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def choose(client: FlaskClient, language: str, next_path: str = "/auth/login") -> Any:
    """Use the language menu."""
    return client.post("/language", data={"language": language, "next": next_path,
                                          "csrf_token": csrf_token(client, "/")})


BROWSERS = [
    ("zh-TW,zh;q=0.9,en;q=0.8", "zh-Hant", "登入"),
    ("zh-HK", "zh-Hant", "登入"),
    ("zh-Hant", "zh-Hant", "登入"),
    ("zh-CN,zh;q=0.9", "zh-Hans", "登录"),
    ("zh", "zh-Hans", "登录"),
    ("zh-SG", "zh-Hans", "登录"),
    ("fr-FR,de;q=0.5", "en", "Sign in"),
    (None, "en", "Sign in"),
]


def test_visitors_get_the_browsers_language(client: FlaskClient) -> None:
    for accept, lang, sign_in in BROWSERS:
        page = get(client, "/auth/login", accept)
        assert (accept, lang_of(page)) == (accept, lang)
        assert sign_in in page


def test_the_menu_choice_beats_the_browser_and_returns_to_the_page(client: FlaskClient) -> None:
    response = choose(client, "zh_Hans", "/auth/register")
    assert response.status_code == 302
    assert response.location == "/auth/register"
    assert LANGUAGE_COOKIE in response.headers["Set-Cookie"]
    page = get(client, "/auth/register", "zh-TW")
    assert lang_of(page) == "zh-Hans"
    assert "注册" in page
    assert "註冊" not in page


def test_the_menu_refuses_other_values_naming_the_field(client: FlaskClient) -> None:
    for value in ["fr", "zh-TW", "", "zh_Hant\r\nX: y"]:
        response = client.post("/language", data={"language": value,
                                                  "csrf_token": csrf_token(client, "/")},
                               headers={"Accept": "application/json"})
        assert response.status_code == 400
        assert response.get_json()["data"]["field"] == "language"
        assert LANGUAGE_COOKIE not in response.headers.get("Set-Cookie", "")


def test_the_menu_never_redirects_off_site(client: FlaskClient) -> None:
    response = choose(client, "en", "//evil.example/")
    assert response.location == "/"


def register(client: FlaskClient, accept: str, **fields: str) -> Any:
    """Register through the form with an Accept-Language header, as a browser would."""
    data = {"username": "陈伟", "email": "chen@example.com", "password": PASSWORD,
            "password2": PASSWORD, "timezone": "Asia/Taipei",
            "csrf_token": csrf_token(client, "/auth/register")}
    data.update(fields)
    return client.post("/auth/register", data=data, headers={"Accept-Language": accept})


def test_registration_stores_the_browsers_language_and_time_zone(client: FlaskClient, app: Flask) -> None:
    response = register(client, "zh-TW,zh;q=0.9")
    assert response.status_code == 302
    page = get(client, response.location, "zh-TW")
    assert lang_of(page) == "zh-Hant"
    assert "請查看您的電子郵件" in page
    user = stored_user(app, 1)
    assert (user.username, user.language, user.timezone) == ("陈伟", "zh_Hant", "Asia/Taipei")


def test_an_unknown_browser_time_zone_falls_back_to_utc(client: FlaskClient, app: Flask) -> None:
    assert register(client, "zh-CN", timezone="Nowhere/Atlantis").status_code == 302
    user = stored_user(app, 1)
    assert (user.language, user.timezone) == ("zh_Hans", "UTC")


@pytest.mark.parametrize("taken", ["陈伟", "\uff21\uff4c\uff49", "ALI"])
def test_usernames_are_unique_in_any_case_and_width(client: FlaskClient, make_user: Callable[..., User],
                                                    taken: str) -> None:
    make_user(username="陈伟", email="first@example.com")
    make_user(username="ali", email="ali@example.com")
    response = register(client, "zh-CN", username=taken, email="second@example.com")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="username-error"' in page
    assert "该用户名已被使用" in page


def test_a_one_character_username_is_refused_in_the_pages_language(client: FlaskClient) -> None:
    response = register(client, "zh-TW", username="陈")
    assert response.status_code == 400
    assert "請使用2到64個字元" in response.get_data(as_text=True)


def test_the_stored_choice_beats_the_menu_cookie(client: FlaskClient, make_user: Callable[..., User],
                                                 login: Callable[..., Any], app: Flask) -> None:
    user = make_user()
    client.set_cookie(LANGUAGE_COOKIE, "zh_Hans", domain="mailroom.test")
    assert lang_of(get(client, "/auth/login")) == "zh-Hans"  # the cookie speaks for the visitor
    login()
    assert lang_of(get(client, "/account/")) == "en"  # the account's stored choice wins
    choose(client, "zh_Hant", "/account/")  # the menu, signed in, changes the stored choice
    assert stored_user(app, user.id).language == "zh_Hant"
    assert lang_of(get(client, "/account/", "en")) == "zh-Hant"


def test_the_account_page_sets_language_and_time_zone(client: FlaskClient, make_user: Callable[..., User],
                                                      login: Callable[..., Any], app: Flask) -> None:
    user = make_user()
    login()
    page = get(client, "/account/")
    assert 'id="language-form"' in page
    response = client.post("/account/language", data={
        "language": "zh_Hans", "timezone": "Asia/Shanghai", "csrf_token": csrf_token(client, "/account/")},
        follow_redirects=True)
    page = response.get_data(as_text=True)
    assert lang_of(page) == "zh-Hans"
    assert "您的语言和时区已保存" in page
    stored = stored_user(app, user.id)
    assert (stored.language, stored.timezone) == ("zh_Hans", "Asia/Shanghai")


# Input refused by validation: the database cannot change the outcome, so one is enough.
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("field", "value"), [("language", "klingon"), ("timezone", "Asia/Atlantis"),
                                              ("timezone", "")])
def test_bad_preferences_are_refused_and_change_nothing(client: FlaskClient, make_user: Callable[..., User],
                                                        login: Callable[..., Any], app: Flask, field: str,
                                                        value: str) -> None:
    user = make_user()
    login()
    data = {"language": "zh_Hans", "timezone": "Asia/Shanghai", field: value,
            "csrf_token": csrf_token(client, "/account/")}
    response = client.post("/account/language", data=data, headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["data"]["field"] == field
    stored = stored_user(app, user.id)
    assert (stored.language, stored.timezone) == ("en", "UTC")


def test_json_messages_and_form_errors_speak_the_users_language(
        client: FlaskClient, app: Flask, login: Callable[..., Any]) -> None:
    add_speaker(app, "小明", "ming@example.com", "zh_Hant", "Asia/Taipei")
    login("小明", PASSWORD)
    headers = {"X-CSRFToken": csrf_token(client, "/account/")}
    wrong = client.post("/account/email/code", json={"email": "new@example.com", "password": "nope"},
                        headers=headers)
    assert wrong.status_code == 400
    assert wrong.get_json()["message"] == "目前的密碼不正確。"
    empty = client.post("/account/email", json={"code": ""}, headers=headers)
    assert empty.get_json()["data"] == {"field": "code", "errors": {"code": "請輸入郵件中的驗證碼。"}}
    missing = client.post("/account/email/code", json={"email": "", "password": PASSWORD}, headers=headers)
    assert missing.get_json()["message"] == "此欄位為必填。"  # WTForms' own message, in our catalogue
