"""A per-address budget of account emails across every flow, so no button can flood an inbox."""

from __future__ import annotations

import logging

from flask import current_app
from limits import RateLimitItemPerHour
from limits.errors import StorageError
from redis.exceptions import RedisError

from mailroom.domain.addresses import email_key
from mailroom.extensions import limiter

log = logging.getLogger(__name__)
NAMESPACE = "account-email"


def _item() -> RateLimitItemPerHour:
    """The configured budget: ACCOUNT_EMAILS_PER_HOUR messages per address per hour."""
    return RateLimitItemPerHour(current_app.config["ACCOUNT_EMAILS_PER_HOUR"])


def _identifiers(address: str) -> tuple[str, str, str]:
    """The key parts: the app's rate-limit prefix (direct hits bypass Flask-Limiter's), then the address."""
    return current_app.config["RATELIMIT_KEY_PREFIX"], NAMESPACE, email_key(address)


def spend(address: str) -> bool:
    """Take one account email from the address's budget; False when the budget is spent.

    With the rate-limit store unreachable the email is allowed (logged): losing a reset
    email is worse than an unbounded hour while Redis is down.
    """
    if not current_app.config["RATELIMIT_ENABLED"]:
        return True
    try:
        return bool(limiter.limiter.hit(_item(), *_identifiers(address)))
    except (StorageError, RedisError, OSError) as error:
        log.warning("account-email budget unavailable (%s); allowing", type(error).__name__)
        return True


def remaining(address: str) -> int:
    """How many account emails the address may still receive this hour."""
    stats = limiter.limiter.get_window_stats(_item(), *_identifiers(address))
    return int(stats.remaining)
