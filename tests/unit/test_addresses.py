"""Address rules and redirect safety, as pure functions."""

from __future__ import annotations

import pytest
from flask_mailroom import HeaderInjection
from flask_mailroom.compose.headers import check_header_value

from mailroom.domain.addresses import email_key, is_safe_next, normalize_email, username_key
from mailroom.domain.errors import AddressInvalid


@pytest.mark.parametrize("target", ["/", "/account/", "/account/?tab=email", "/a/b#frag"])
def test_local_paths_are_safe(target: str) -> None:
    assert is_safe_next(target)


@pytest.mark.parametrize("target", [
    "//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example",
    "https://evil.example", "http:/evil.example", "javascript:alert(1)", "evil.example",
    "/\r\nLocation: //evil", "", None, " /account", "/\tevil",
])
def test_foreign_or_odd_targets_are_refused(target: str | None) -> None:
    assert not is_safe_next(target)


def test_addresses_are_normalised_and_compared_without_case() -> None:
    assert normalize_email("  Alice@EXAMPLE.com ") == "Alice@example.com"
    assert email_key("Alice@Example.COM") == email_key("alice@example.com")
    assert username_key("Alice") == username_key("ALICE")


@pytest.mark.parametrize("raw", ["", "no-at-sign", "a@b", "a@@b.com", "a\r\n@b.com",
                                 "x" * 250 + "@example.com", "a@b.com\x00",
                                 "=?utf-8?q?x?=@example.com"])
def test_malformed_addresses_are_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(AddressInvalid) as caught:
        normalize_email(raw)
    assert str(caught.value)


def test_international_domains_become_ascii() -> None:
    assert normalize_email("User@Bücher.Example") == "User@xn--bcher-kva.example"
    assert normalize_email("jörg@bücher.example", smtputf8=True) == "jörg@xn--bcher-kva.example"


def test_a_non_ascii_local_part_needs_smtputf8() -> None:
    with pytest.raises(AddressInvalid, match="outside ASCII before the @"):
        normalize_email("jörg@example.com")


@pytest.mark.parametrize("mark", ["\r", "\n", "\x00", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e",
                                  "\x85", "\u2028", "\u2029"])
def test_header_values_that_would_break_the_line_are_refused(mark: str) -> None:
    with pytest.raises(HeaderInjection):
        check_header_value("Subject", f"hello{mark}Bcc: victim@example.com")
    assert check_header_value("Subject", "hello\tworld") == "hello\tworld"
