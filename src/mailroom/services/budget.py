"""A per-address budget of account emails across every flow, so no button can flood an inbox."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app
from limits import RateLimitItemPerHour

from mailroom.domain.addresses import email_key
from mailroom.services import ratelimit

NAMESPACE = "account-email"


def _item() -> RateLimitItemPerHour:
    """The configured budget: ACCOUNT_EMAILS_PER_HOUR messages per address per hour."""
    return RateLimitItemPerHour(current_app.config["ACCOUNT_EMAILS_PER_HOUR"])


def spend(address: str) -> bool:
    """Take one account email from the address's budget; False when the budget is spent."""
    return ratelimit.hit(_item(), NAMESPACE, email_key(address))


def remaining(address: str) -> int:
    """How many account emails the address may still receive this hour."""
    return ratelimit.remaining(_item(), NAMESPACE, email_key(address))


def paused_until(address: str) -> datetime | None:
    """When the address's spent budget frees a slot again (UTC), or None while mail can go to it."""
    window = ratelimit.window(_item(), NAMESPACE, email_key(address))
    if window is None or window.remaining > 0:
        return None
    return datetime.fromtimestamp(window.reset_time, UTC)
