"""Every email speaks its recipient's stored language, wherever it is built, through a real SMTP server."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_mailroom.compose import deferred

from mailroom.extensions import db
from mailroom.models import Announcement
from mailroom.services import announcements
from tests.conftest import csrf_token
from tests.support.accounts import without_browser_check, without_signin_notices
from tests.support.languages import PASSWORD, add_speaker, script_of, user_named
from tests.support.smtp import Received, SMTPServer

RESET_SUBJECTS = {"en": "Reset your Mailroom password", "zh_Hans": "重置您的 Mailroom 密码",
                  "zh_Hant": "重設您的 Mailroom 密碼"}
LIFETIMES = {"en": "10 minutes", "zh_Hans": "10分钟", "zh_Hant": "10 分鐘"}
CODE = re.compile(r"^\s+([A-Z0-9]{6})\s*$", re.MULTILINE)


def parts(message: Received) -> tuple[str, str, str]:
    """Subject, text part and HTML part, from one parse of the message."""
    parsed = message.message
    text, html = (parsed.get_body(preferencelist=(kind,)) for kind in ("plain", "html"))
    assert text is not None
    assert html is not None
    return str(parsed["Subject"]), str(text.get_content()), str(html.get_content())


def whole(message: Received) -> str:
    """Subject, text part and HTML part together."""
    return "\n".join(parts(message))


def ask_for_reset(client: FlaskClient, email: str) -> None:
    """Ask for a reset link from an English page, as anyone could for any address."""
    token = csrf_token(client, "/auth/reset_password_request")
    response = client.post("/auth/reset_password_request", data={"email": email, "csrf_token": token},
                           headers={"Accept-Language": "en"})
    assert response.status_code == 302


def test_a_reset_built_by_the_worker_speaks_traditional(app: Flask, client: FlaskClient, smtp: SMTPServer,
                                                        deliver: Callable[[], int]) -> None:
    add_speaker(app, "陳大文", "tai@example.com", "zh_Hant", "Asia/Taipei")
    ask_for_reset(client, "tai@example.com")
    assert deliver() == 1
    [message] = smtp.wait_for(1)
    assert message.message["Subject"] == RESET_SUBJECTS["zh_Hant"]
    assert script_of(whole(message)) == "zh_Hant"
    assert "10 分鐘內開啟以下連結" in message.text()
    assert '<html lang="zh-Hant">' in message.html()
    assert "minutes" not in whole(message)


def test_a_change_of_address_speaks_simplified_to_both_addresses(
        app: Flask, client: FlaskClient, smtp: SMTPServer, deliver: Callable[[], int],
        login: Callable[..., Any]) -> None:
    add_speaker(app, "陈伟", "wei@example.com", "zh_Hans", "Asia/Shanghai")
    without_signin_notices(app, "wei@example.com")
    login("陈伟", PASSWORD)
    headers = {"X-CSRFToken": csrf_token(client, "/account/"), "Accept-Language": "en"}
    sent = client.post("/account/email/code", json={"email": "wei.new@example.com", "password": PASSWORD},
                       headers=headers)
    assert sent.status_code == 200
    deliver()
    [code_mail] = smtp.wait_for(1)
    assert code_mail.rcpt_tos == ["wei.new@example.com"]
    assert code_mail.message["Subject"] == "您的 Mailroom 验证码"
    assert script_of(whole(code_mail)) == "zh_Hans"
    assert "有效期10分钟" in code_mail.text()
    found = CODE.search(code_mail.text())
    assert found is not None
    changed = client.post("/account/email", json={"code": found.group(1)}, headers=headers)
    assert changed.status_code == 200
    deliver()
    notice = smtp.wait_for(2)[1]
    assert notice.rcpt_tos == ["wei@example.com"]
    assert notice.message["Subject"] == "您的 Mailroom 电子邮件地址已更改"
    assert script_of(whole(notice)) == "zh_Hans"
    # 09:00 UTC on the test clock, shown in the user's own zone, which is named.
    assert "2026年3月2日 17:00（GMT+8）" in notice.text()
    assert "1周内打开以下链接" in notice.text()


def test_one_announcement_reaches_each_reader_in_their_language(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    add_speaker(app, "ann", "ann@example.com", "en")
    add_speaker(app, "小明", "ming@example.com", "zh_Hant")
    add_speaker(app, "小红", "hong@example.com", "zh_Hans")  # no Simplified version: the main body
    with app.app_context():
        version = announcements.translated("zh_Hant", "Mailroom 2.0 上線了", "新功能都在這裡。")
        announcement = announcements.create("Mailroom 2.0 is out", "New things are here.",
                                            versions={"zh_Hant": version})
        announcements.send(announcement.id)
    deliver()
    received = {message.rcpt_tos[0]: message for message in smtp.wait_for(3)}
    english, traditional, simplified = (received[f"{name}@example.com"] for name in ("ann", "ming", "hong"))
    assert english.message["Subject"] == "Mailroom 2.0 is out"
    assert "Hello ann," in english.text()
    assert "New things are here." in english.text()
    assert "You receive announcements" in english.text()
    assert script_of(english.text()) == "en"
    assert traditional.message["Subject"] == "Mailroom 2.0 上線了"
    assert "小明，您好：" in traditional.text()
    assert "新功能都在這裡。" in traditional.text()
    assert "取消訂閱公告" in traditional.html()
    assert '<html lang="zh-Hant">' in traditional.html()
    assert "New things" not in traditional.text()
    assert script_of(whole(traditional)) == "zh_Hant"
    assert simplified.message["Subject"] == "Mailroom 2.0 is out"
    assert "小红，您好：" in simplified.text()
    assert "New things are here." in simplified.text()
    assert "退订公告" in simplified.html()


def test_the_admin_writes_versions_in_other_languages(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner, login: Callable[..., Any]) -> None:
    add_speaker(app, "root", "root@example.com", "en")
    assert runner.invoke(args=["users", "grant-admin", "root@example.com"]).exit_code == 0
    without_browser_check(app, "root@example.com")
    login("root", PASSWORD)
    form = {"subject": "Spring news", "text_body": "Things are growing.", "csrf_token": csrf_token(client),
            "subject_zh_hans": "春季消息", "text_body_zh_hans": "万物生长。",
            "markdown_body_zh_hans": "**万物**生长。", "subject_zh_hant": "", "text_body_zh_hant": "只有內文"}
    refused = client.post("/admin/announcements/new", data=form)
    assert refused.status_code == 400
    assert 'id="subject_zh_hant-error"' in refused.get_data(as_text=True)
    form["subject_zh_hant"] = "春季消息"
    saved = client.post("/admin/announcements/new", data=form)
    assert saved.status_code == 302
    with app.app_context():
        [announcement] = db.session.scalars(db.select(Announcement)).all()
        assert announcement.versions["zh_Hans"]["html_body"] == "<p><strong>万物</strong>生长。</p>\n"
        assert announcement.versions["zh_Hant"]["text_body"] == "只有內文"
        draft_id = announcement.id
    edit = f"/admin/announcements/{draft_id}/edit"
    page = client.get(edit).get_data(as_text=True)
    assert "**万物**生长。" in page, "the versions come back to edit"
    assert "只有內文" in page
    form |= {"markdown_body_zh_hans": "", "text_body_zh_hans": "万物复苏。",
             "subject_zh_hant": "", "text_body_zh_hant": "", "csrf_token": csrf_token(client)}
    assert client.post(edit, data=form).status_code == 302
    with app.app_context():
        changed = db.session.get(Announcement, draft_id)
        assert changed is not None
        assert set(changed.versions) == {"zh_Hans"}, "a version emptied on editing is removed"
        assert changed.versions["zh_Hans"]["text_body"] == "万物复苏。"
        assert changed.versions["zh_Hans"]["html_body"] is None


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Room in the address budget for the thousand-message run."""
    return {"ACCOUNT_EMAILS_PER_HOUR": 10_000}


# A thousand messages through SMTP: once, on the production database, to keep the suite lean.
@pytest.mark.slow
@pytest.mark.parametrize("db_backend", ["postgresql"])
def test_a_worker_rendering_alternating_languages_never_mixes_them(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    languages = ["zh_Hans", "zh_Hant", "en"]
    for language in languages:
        add_speaker(app, f"reader-{language}", f"{language.lower()}@example.com", language)
    with app.app_context():
        for number in range(1000):
            deferred.defer("reset_password", f"{languages[number % 3].lower()}@example.com")
        db.session.commit()
    assert deliver() == 1000
    received = smtp.wait_for(1000, timeout=60)
    assert len(received) == 1000
    seen: Counter[str] = Counter()
    for message in received:
        language = next(code for code in languages if message.rcpt_tos == [f"{code.lower()}@example.com"])
        subject, text, html = parts(message)
        assert subject == RESET_SUBJECTS[language]
        assert script_of("\n".join((subject, text, html))) == language
        assert LIFETIMES[language] in text
        seen[language] += 1
    assert seen == {"zh_Hans": 334, "zh_Hant": 333, "en": 333}
    assert user_named(app, "reader-en").language == "en"
