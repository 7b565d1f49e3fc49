"""Which links the development mailbox may request, and which links a message has."""

from __future__ import annotations

import pytest

from flask_mailroom.devmail.linkcheck import check, is_loopback
from flask_mailroom.devmail.mailbox import links_in


@pytest.mark.parametrize(("host", "loopback"), [
    ("localhost", True), ("LOCALHOST.", True), ("app.localhost", True), ("127.0.0.1", True),
    ("127.8.9.10", True), ("[::1]", True), ("::1", True),
    ("example.com", False), ("localhost.example.com", False), ("127.0.0.1.nip.io", False),
    ("10.0.0.1", False), ("192.168.1.2", False), ("0.0.0.0", False)  # noqa: S104, ("", False),
])
def test_only_loopback_hosts_count_as_this_machine(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("url", ["https://example.com/track?id=1", "http://10.0.0.1/", "ftp://127.0.0.1/x",
                                 "mailto:someone@example.com", "javascript:alert(1)"])
def test_other_links_are_described_without_a_request(url: str) -> None:
    status = check(url, timeout=0.01)
    assert (status.checked, status.status, status.ok) == (False, None, False)


def test_links_come_from_the_html_then_the_text_each_once() -> None:
    html = '<a href="https://a.example/1">1</a><a href="javascript:x()">j</a><a href="https://a.example/1">again</a>'
    text = "See https://a.example/1 and https://b.example/2?x=1).\nAlso <https://c.example/3>"
    assert links_in(html, text) == ["https://a.example/1", "https://b.example/2?x=1", "https://c.example/3"]
    assert links_in(None, None) == []
