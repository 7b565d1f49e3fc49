"""Every page, crawled signed out, signed in, as an admin and in the development mailbox, in each
language: a Chinese page must not still show a sentence of its English rendering, nor any run of
Latin letters outside data and a few named words (the sentences its countdowns will write included),
and no page may give two elements the same id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from mailroom.extensions import db
from mailroom.i18n import LANGUAGE_COOKIE
from mailroom.models import User
from mailroom.services import announcement_preview, announcements, email_change, reset
from tests.conftest import csrf_token
from tests.support.crawl import crawl, duplicate_ids, english_sentences, latin_left, read
from tests.support.languages import PASSWORD, add_speaker
from tests.support.outbox import queued_code

CHINESE = ("zh_Hans", "zh_Hant")
# Data the test puts on pages, shown as written whatever the language.
DATA = ("crawler", "crawler@example.com", "old.crawler@example.com", "root", "root@example.com",
        "[Preview] Spring news", "Spring news", "Things are growing.", "noreply@mailroom.test", "Mailroom")


@pytest.fixture
def app_config() -> dict[str, Any]:
    """A development app, so the development mailbox is there to crawl."""
    return {"MAILROOM_ENV": "development"}


def never(path: str) -> bool:
    """Pages the crawl leaves alone: files, and pages that would act (there are none on GET)."""
    return path.startswith(("/static/", "/bootstrap/")) or path.endswith((".html", "/raw"))


def seeds(app: Flask, user_id: int) -> list[str]:
    """Pages no link leads to: the emailed links (reset, revert, unsubscribe) and their bad forms."""
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        token = reset.issue_link_token(user)
        revert = email_change.revert_token(user, "old.crawler@example.com")
        unsubscribe = user.unsubscribe_token
    # The sign-in code pages show only while a code is pending (the visitor asks for both first).
    return ["/", "/auth/login/code", "/auth/login/new-browser",
            f"/auth/reset_password/{token}", "/auth/reset_password/not-a-token",
            f"/account/email/revert/{revert}", "/account/email/revert/not-a-token",
            f"/unsubscribe/{unsubscribe}", "/unsubscribe/not-a-token", "/no/such/page"]


def set_language(app: Flask, user_id: int, language: str) -> None:
    """Store the account's language, as the account page does."""
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        user.language = language
        db.session.commit()


def leftovers(english: dict[str, str], chinese: dict[str, str]) -> dict[str, set[str]]:
    """For each page, the English sentences its Chinese rendering still shows."""
    found = {}
    for path, page in english.items():
        assert path in chinese, f"{path} was not reached in Chinese"
        text = "\n".join(read(chinese[path]).segments)
        left = {sentence for sentence in english_sentences(page, DATA) if sentence in text}
        if left:
            found[path] = left
    return found


def latin_runs(chinese: dict[str, str]) -> dict[str, set[str]]:
    """For each Chinese page, the segments that still hold Latin letters outside data."""
    found = {path: latin_left(read(page).segments, DATA) for path, page in chinese.items()}
    return {path: left for path, left in found.items() if left}


def repeated_ids(pages: dict[str, str]) -> dict[str, set[str]]:
    """For each page, the ids it gives to more than one element."""
    found = {path: duplicate_ids(page) for path, page in pages.items()}
    return {path: twice for path, twice in found.items() if twice}


def crawl_as(client: FlaskClient, app: Flask, user_id: int | None, account_id: int,
             language: str) -> dict[str, str]:
    """The site in ``language``: a visitor by the menu's cookie, a member by the stored choice."""
    if user_id is None:
        response = client.post("/language", data={"language": language, "csrf_token": csrf_token(client)})
        assert LANGUAGE_COOKIE in response.headers["Set-Cookie"]
    else:
        set_language(app, user_id, language)
    return crawl(client, seeds(app, account_id), never)


# The words on a page do not depend on the database: one backend is enough for this long crawl.
@pytest.mark.slow
@pytest.mark.parametrize("db_backend", ["sqlite"])
def test_no_english_sentence_is_left_on_any_chinese_page(
        app: Flask, make_user: Callable[..., User], runner: FlaskCliRunner,
        deliver: Callable[[], int]) -> None:
    member = add_speaker(app, "crawler", "crawler@example.com", "en")
    admin = add_speaker(app, "root", "root@example.com", "en")
    assert runner.invoke(args=["users", "grant-admin", "root@example.com"]).exit_code == 0
    with app.app_context():
        announcement = announcements.create("Spring news", "Things are growing.")
        announcement_preview.send(announcement.id, db.session.get(User, admin))
    deliver()  # into the development mailbox
    visitor, signed_in, root = app.test_client(), app.test_client(), app.test_client()
    token = csrf_token(visitor, "/auth/login")
    visitor.post("/auth/login/email", data={"email": "crawler@example.com", "csrf_token": token})
    for client, name in ((visitor, "root"), (signed_in, "crawler"), (root, "root")):
        token = csrf_token(client, "/auth/login")
        client.post("/auth/login", data={"identifier": name, "password": PASSWORD, "csrf_token": token})
    # An admin's new browser types the code emailed after the right password.
    token = csrf_token(root, "/auth/login")
    assert root.post("/auth/login/new-browser", data={"code": queued_code(app), "csrf_token": token}
                     ).status_code == 302
    problems = {}
    for label, client, user_id in (("visitor", visitor, None), ("member", signed_in, member),
                                   ("admin", root, admin)):
        english = crawl_as(client, app, user_id, member, "en")
        assert len(english) >= 8, (label, sorted(english))
        for path, twice in repeated_ids(english).items():
            problems[f"{label} en {path} repeats ids"] = sorted(twice)
        for language in CHINESE:
            chinese = crawl_as(client, app, user_id, member, language)
            for path, left in leftovers(english, chinese).items():
                problems[f"{label} {language} {path}"] = sorted(left)
            for path, left in latin_runs(chinese).items():
                problems[f"{label} {language} {path} Latin"] = sorted(left)
    assert not problems, "\n".join(f"{page}: {left}" for page, left in problems.items())
