"""Header safety: no value that could end a header line and start another."""

from __future__ import annotations

from collections.abc import Iterable

from mailroom.domain.errors import HeaderInjection

_BREAKS = ("\r", "\n", "\x00", "\u2028", "\u2029", "\x85")


def check_header_value(name: str, value: str) -> str:
    """Return the value when it is safe on one header line, else raise HeaderInjection."""
    if any(mark in value for mark in _BREAKS):
        raise HeaderInjection(f"{name} contains a line break or NUL, which is not allowed in a header")
    return value


def check_header_name(name: str) -> str:
    """A header name: printable ASCII without spaces or colons (RFC 5322 field-name)."""
    if not name or any(ord(c) < 33 or ord(c) > 126 or c == ":" for c in name):
        raise HeaderInjection(f"invalid header name {name!r}")
    return name


def check_all(name: str, values: Iterable[str]) -> None:
    """Check several values that go into the same header."""
    for value in values:
        check_header_value(name, value)
