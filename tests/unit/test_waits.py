"""Waits are split once (domain.waits) and worded in the reader's language (mailroom.i18n.wait) with
CLDR's short units, the words static/js/waits.js writes in the browser."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask_babel import force_locale

from mailroom.domain.waits import wait_parts
from mailroom.i18n import wait, zone_short_name


@pytest.mark.parametrize(("seconds", "parts"), [
    (-5, [("second", 0)]), (0, [("second", 0)]), (0.2, [("second", 1)]), (59, [("second", 59)]),
    (60, [("minute", 1)]), (599.1, [("minute", 10)]), (3661, [("hour", 1), ("minute", 1), ("second", 1)]),
])
def test_a_wait_is_rounded_up_and_split(seconds: float, parts: list[tuple[str, int]]) -> None:
    assert wait_parts(seconds) == parts


# The words do not depend on the database: one backend is enough.
@pytest.mark.parametrize("db_backend", ["sqlite"])
@pytest.mark.parametrize(("locale", "told"), [
    ("en", ["59 sec", "9 min, 59 sec", "1 hr, 5 sec"]),
    ("zh_Hans", ["59秒", "9分钟59秒", "1小时5秒"]),
    ("zh_Hant", ["59秒", "9分鐘59秒", "1小時5秒"]),
])
def test_a_wait_is_worded_in_the_readers_language(app: Flask, locale: str, told: list[str]) -> None:
    with app.test_request_context(), force_locale(locale):
        assert [wait(seconds) for seconds in (59, 599, 3605)] == told


@pytest.mark.parametrize(("zone", "name"), [("UTC", "UTC"), ("Asia/Taipei", "GMT+8"),
                                            ("Asia/Kolkata", "GMT+5:30"), ("America/St_Johns", "GMT-3:30"),
                                            ("Europe/London", "GMT")])
def test_a_zone_has_one_short_name_in_every_language(zone: str, name: str) -> None:
    assert zone_short_name(datetime(2026, 1, 15, 12, tzinfo=UTC).astimezone(ZoneInfo(zone))) == name
