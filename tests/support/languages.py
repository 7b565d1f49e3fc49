"""Accounts that read a given language in a given time zone, and what marks each language's text."""

from __future__ import annotations

import re

from flask import Flask

from mailroom.extensions import db
from mailroom.models import User
from mailroom.services import accounts

PASSWORD = "correct horse battery"
HAN = re.compile(r"[\u4e00-\u9fff]")
# Characters only one of the two Chinese scripts uses in our emails.
SIMPLIFIED_ONLY = "这账号码设链邮时钟请户确认选择"
TRADITIONAL_ONLY = "這帳號碼設連郵時鐘請戶確認選擇"


def add_speaker(app: Flask, username: str, email: str, language: str, timezone: str = "UTC") -> int:
    """Store a confirmed account that reads ``language`` in ``timezone``; return its id."""
    with app.app_context():
        user = accounts.new_user(username, email, PASSWORD, language, timezone)
        user.email_confirmed = True
        db.session.add(user)
        db.session.commit()
        return int(user.id)


def script_of(text: str) -> str:
    """Which language a text is written in: en (no Han), zh_Hans or zh_Hant, or "mixed"."""
    if not HAN.search(text):
        return "en"
    simplified = any(char in text for char in SIMPLIFIED_ONLY)
    traditional = any(char in text for char in TRADITIONAL_ONLY)
    if simplified == traditional:
        return "mixed"
    return "zh_Hans" if simplified else "zh_Hant"


def user_named(app: Flask, username: str) -> User:
    """The stored account, detached."""
    with app.app_context():
        user = accounts.find_by_username(username)
        assert user is not None
        db.session.expunge(user)
        return user
