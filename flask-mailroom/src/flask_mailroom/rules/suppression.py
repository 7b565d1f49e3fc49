"""Deliverability rules: what a bounce is, when bounces suppress an address, whether a message
may still go out. Flask-free: the clock's reading and the stored state are passed in."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

HARD = "hard"
SOFT = "soft"
# Enhanced status codes (RFC 3463) that a 5xx reply uses for conditions that pass: a full
# mailbox, a message too big for this mailbox today.
TRANSIENT_PERMANENT = frozenset({"5.2.2", "5.2.3"})
_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")

ACCOUNT = "account"
BULK = "bulk"
SCOPE_ALL = "all"
SCOPE_BULK = "bulk"


class Verdict(enum.StrEnum):
    """What to do with a message about to be delivered."""

    SEND = "send"
    EXPIRED = "expired"
    SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class Screening:
    """The verdict, and the recipients the message still goes to."""

    verdict: Verdict
    recipients: tuple[str, ...]
    reason: str = ""


def enhanced_status(text: str) -> str | None:
    """The first enhanced status code (``5.1.1``) in a reply or diagnostic text, if any."""
    found = _ENHANCED.search(text)
    return found.group(0) if found else None


def bounce_kind(code: int | None, text: str = "") -> str | None:
    """``hard``, ``soft`` or None (not a bounce) for an SMTP reply code and its text.

    The enhanced status wins over the basic code, as a 550 5.2.2 (mailbox full) passes.
    """
    status = enhanced_status(text)
    if status is not None:
        if status in TRANSIENT_PERMANENT:
            return SOFT
        return {"5": HARD, "4": SOFT}.get(status[0])
    if code is not None and 500 <= code < 600:
        return HARD
    if code is not None and 400 <= code < 500:
        return SOFT
    return None


@dataclass(frozen=True)
class SoftBouncePolicy:
    """Soft bounces suppress an address once ``threshold`` of them fall within ``window``."""

    threshold: int = 4
    window: timedelta = timedelta(days=30)

    def suppresses(self, bounces: Iterable[datetime], now: datetime) -> bool:
        """Whether these soft-bounce times, counted over the window ending now, reach the threshold."""
        since = now - self.window
        return sum(1 for moment in bounces if since <= moment <= now) >= self.threshold


def applies(scope: str, stream: str) -> bool:
    """Whether a suppression of this scope stops a message of this stream."""
    return scope == SCOPE_ALL or (scope == SCOPE_BULK and stream == BULK)


def screen(stream: str, recipients: Sequence[str], expires_at: datetime | None, now: datetime,
           suppressed: Mapping[str, str]) -> Screening:
    """Send, or why not: expired first (the link is dead whoever reads it), then suppressed.

    ``suppressed`` maps lower-cased addresses to their suppression scope. Recipients that are
    suppressed are dropped; the message is suppressed only when nobody is left.
    """
    if expires_at is not None and now >= expires_at:
        return Screening(Verdict.EXPIRED, tuple(recipients),
                         f"its link or code stopped working at {expires_at:%Y-%m-%d %H:%M:%S} UTC")
    kept = tuple(a for a in recipients if not applies(suppressed.get(a.lower(), ""), stream))
    if not kept:
        return Screening(Verdict.SUPPRESSED, tuple(recipients),
                         "every recipient is suppressed: " + ", ".join(recipients))
    return Screening(Verdict.SEND, kept)
