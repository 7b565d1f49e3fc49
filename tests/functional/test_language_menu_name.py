"""The language menu's button is named with the words it shows (WCAG 2.5.3 Label in Name).

A person using voice control says what they see ("English", "简体中文", "繁體中文"); the button's
accessible name (its aria-label) must contain it. The browser tests check every page with axe-core.
"""

from __future__ import annotations

import html
import re

import pytest
from flask.testing import FlaskClient

TOGGLE = re.compile(r'<button[^>]*id="language-toggle"[^>]*aria-label="([^"]+)"[^>]*>([^<]+)</button>')


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(("accept", "name"), [("en", "Language: English"), ("zh-CN", "语言：简体中文"),
                                              ("zh-TW", "語言：繁體中文")])
def test_the_buttons_name_holds_the_language_it_shows(client: FlaskClient, accept: str, name: str) -> None:
    page = client.get("/auth/login", headers={"Accept-Language": accept}).get_data(as_text=True)
    found = TOGGLE.search(page)
    assert found, "no language button"
    label, shown = html.unescape(found.group(1)), html.unescape(found.group(2)).strip()
    assert label == name
    assert shown in label
