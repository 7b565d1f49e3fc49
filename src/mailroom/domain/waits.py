"""Waits told to people: one wording for every cooldown, lockout and expiry, here and in account.js."""

from __future__ import annotations

import math


def format_wait(seconds: float) -> str:
    """``47 s`` under a minute, else ``2 min 05 s`` (rounded up, never negative)."""
    whole = max(0, math.ceil(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, rest = divmod(whole, 60)
    return f"{minutes} min {rest:02d} s"
