"""Body rules: JSON depth without parsing, traces of broken encoding, browsers named for people."""

from __future__ import annotations

import pytest

from mailroom.domain.bodies import has_unreadable_characters, json_depth
from mailroom.domain.browsers import describe_browser


@pytest.mark.parametrize(("text", "depth"), [
    ("1", 0), ("[]", 1), ('{"a": [1, {"b": []}]}', 4), ('["[[[[", "]]"]', 1),
    ('{"a": "\\"[[["}', 1), ("[" * 5000, 21), ('{"a":' * 5000, 21),
])
def test_depth_counts_brackets_outside_strings_and_stops_past_the_limit(text: str, depth: int) -> None:
    assert json_depth(text, 20) == depth


def test_replacement_characters_and_lone_surrogates_are_unreadable() -> None:
    assert has_unreadable_characters("a\ufffdb")
    assert has_unreadable_characters("a\ud800")
    assert not has_unreadable_characters("Jörg 漢字 \U0001f600")


@pytest.mark.parametrize(("agent", "name"), [
    ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"),
    ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/131.0 Edg/131.0", "Edge on Windows"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Safari/604.1", "Safari on iOS"),
    ("curl/8.5.0", "curl"), ("", "Unknown browser"),
])
def test_browsers_are_named_for_people(agent: str, name: str) -> None:
    assert describe_browser(agent) == name
