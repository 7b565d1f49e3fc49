"""Waits told to people: every cooldown, lockout and expiry is split the same way here, then worded in
the reader's language (``mailroom.i18n.wait`` on the server, ``static/js/waits.js`` in the browser)."""

from __future__ import annotations

import math

# The units a wait is told in, largest first, with their length in seconds.
UNITS = (("hour", 3600), ("minute", 60), ("second", 1))


def wait_parts(seconds: float) -> list[tuple[str, int]]:
    """The non-zero hours, minutes and seconds of a wait, rounded up and never negative (0 s at the end)."""
    left = max(0, math.ceil(seconds))
    parts = []
    for unit, size in UNITS:
        count, left = divmod(left, size)
        if count:
            parts.append((unit, count))
    return parts or [("second", 0)]
