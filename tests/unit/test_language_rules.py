"""Pure rules of languages and usernames: browser tags to locales, time zones, usernames in any script."""

from __future__ import annotations

import pytest

from mailroom.domain.addresses import normalize_username, username_key
from mailroom.domain.errors import UsernameInvalid
from mailroom.domain.languages import known_locale, known_timezone, locale_for_tag, negotiate


@pytest.mark.parametrize(("tag", "locale"), [
    ("zh-TW", "zh_Hant"), ("zh-HK", "zh_Hant"), ("zh-MO", "zh_Hant"), ("zh-Hant", "zh_Hant"),
    ("zh-Hant-HK", "zh_Hant"), ("zh_TW", "zh_Hant"), ("ZH-tw", "zh_Hant"),
    ("zh", "zh_Hans"), ("zh-CN", "zh_Hans"), ("zh-SG", "zh_Hans"), ("zh-Hans", "zh_Hans"),
    ("zh-Hans-HK", "zh_Hans"), ("en", "en"), ("en-GB", "en"),
    ("fr", None), ("ja-JP", None), ("", None), ("*", None),
])
def test_browser_tags_map_explicitly(tag: str, locale: str | None) -> None:
    assert locale_for_tag(tag) == locale


def test_negotiation_takes_the_most_preferred_tag_we_speak() -> None:
    assert negotiate([("fr", 1.0), ("zh-TW", 0.8), ("en", 0.5)]) == "zh_Hant"
    assert negotiate([("en", 0.4), ("zh-CN", 0.9)]) == "zh_Hans"
    assert negotiate([("zh-HK", 1.0), ("zh-CN", 1.0)]) == "zh_Hant"  # ties keep the browser's order
    assert negotiate([("zh-TW", 0.0), ("en", 0.1)]) == "en"  # q=0 means "not this one"
    assert negotiate([("de", 1.0)]) is None
    assert negotiate([]) is None


def test_stored_values_are_checked() -> None:
    assert known_locale("zh_Hant") == "zh_Hant"
    assert known_locale("zh-TW") is None
    assert known_locale(None) is None
    assert known_timezone("Asia/Taipei") == "Asia/Taipei"
    assert known_timezone("Mars/Olympus") is None
    assert known_timezone("../../etc/passwd") is None
    assert known_timezone("x" * 100) is None


@pytest.mark.parametrize("posted", [True, 7, {"a": 1}, ["zh_Hant"], None])
def test_posted_json_of_any_type_is_simply_not_a_choice(posted: object) -> None:
    assert known_locale(posted) is None
    assert known_timezone(posted) is None


@pytest.mark.parametrize("name", ["陈伟", "王芳", "Zoë", "al", "a_b-c.d", "हिन्दी", "ไทย", "OB"])
def test_usernames_of_two_characters_in_any_script_are_accepted(name: str) -> None:
    assert normalize_username(name) == name


@pytest.mark.parametrize("name", ["a", "陈", "", " ", "al ice", "a@b", "a" * 65, "emoji😀", "\u0301a"])
def test_bad_usernames_are_refused_with_a_reason(name: str) -> None:
    with pytest.raises(UsernameInvalid) as raised:
        normalize_username(name)
    assert raised.value.message  # a translatable msgid, shown by the web layer


def test_look_alike_usernames_share_one_identity() -> None:
    full_width = "\uff21\uff4c\uff49\uff43\uff45"  # Ａｌｉｃｅ
    assert normalize_username(full_width) == "Alice"
    assert username_key(full_width) == username_key("ALICE") == username_key("alice")
    assert username_key("陈伟") != username_key("陳偉")  # Simplified and Traditional are different names
