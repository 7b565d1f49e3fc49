"""Header safety: no value that could end a header line and start another."""

from __future__ import annotations

from flask_mailroom.errors import HeaderInjection


def check_header_value(name: str, value: str) -> str:
    """Return the value when it stays on one header line, else raise HeaderInjection.

    Refused: NUL and every character ``str.splitlines`` breaks at (CR, LF, VT, FF, FS, GS, RS,
    NEL, U+2028, U+2029), because Python's email package ends header lines at all of them.
    """
    if "\x00" in value or len(f"x{value}x".splitlines()) > 1:
        raise HeaderInjection(f"{name} contains a line break or NUL, which is not allowed in a header")
    return value


def check_header_name(name: str) -> str:
    """A header name: printable ASCII without spaces or colons (RFC 5322 field-name)."""
    if not name or any(ord(c) < 33 or ord(c) > 126 or c == ":" for c in name):
        raise HeaderInjection(f"invalid header name {name!r}")
    return name
