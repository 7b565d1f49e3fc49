"""Limits counted by use cases themselves (reset requests, the email budget), per application.

Flask-Limiter keeps one storage for the whole process on its global instance, and after a
storage error it switches that instance to an in-memory fallback that only its request hook ever
switches back. Counting from a service through it would leak one app's state into another and
could keep a recovered Redis unused. So these limits use a strategy of their own per app, on the
same storage Flask-Limiter is configured with, and fail open when that storage is unreachable.
"""

from __future__ import annotations

import logging
from functools import cache

from flask import current_app
from limits import RateLimitItem, WindowStats, parse
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from redis.exceptions import RedisError

from mailroom.state import state

log = logging.getLogger(__name__)
SERVICE = "ratelimit"


@cache
def limit(text: str) -> RateLimitItem:
    """A parsed limit such as '5 per hour'."""
    return parse(text)


def _strategy() -> FixedWindowRateLimiter:
    """This application's limiter on its configured storage, created on first use."""
    services = state().services
    if SERVICE not in services:
        config = current_app.config
        storage = storage_from_string(config["RATELIMIT_STORAGE_URI"],
                                      **config.get("RATELIMIT_STORAGE_OPTIONS", {}))
        services[SERVICE] = FixedWindowRateLimiter(storage)
    strategy = services[SERVICE]
    assert isinstance(strategy, FixedWindowRateLimiter)
    return strategy


def _key(namespace: str, key: str) -> tuple[str, str, str]:
    """The key parts, under the application's rate-limit prefix."""
    return current_app.config["RATELIMIT_KEY_PREFIX"], namespace, key


def hit(item: RateLimitItem, namespace: str, key: str) -> bool:
    """Count one use against ``item``; False when it is used up.

    With the store unreachable the use is allowed (logged): refusing account email while Redis
    is down would be worse than an unbounded moment.
    """
    if not current_app.config["RATELIMIT_ENABLED"]:
        return True
    try:
        return bool(_strategy().hit(item, *_key(namespace, key)))
    except (StorageError, RedisError, OSError) as error:
        log.warning("rate limit %s unavailable (%s); allowing", namespace, type(error).__name__)
        return True


def remaining(item: RateLimitItem, namespace: str, key: str) -> int:
    """How many uses of ``item`` are left in the current window."""
    return int(_strategy().get_window_stats(item, *_key(namespace, key)).remaining)


def window(item: RateLimitItem, namespace: str, key: str) -> WindowStats | None:
    """The current window of ``item`` (uses left, when it resets); None when limits are off or
    the store is unreachable, since then nothing is held back."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return None
    try:
        return _strategy().get_window_stats(item, *_key(namespace, key))
    except (StorageError, RedisError, OSError):
        return None
