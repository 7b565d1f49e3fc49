"""The provider's rate limit (``MAIL_RATE_LIMIT``): in this process, or shared by every worker in Redis.

Both keep one number, the time the next slot is free (see ``domain.pacing``). With ``REDIS_URL``
set the number lives in Redis and a Lua script takes the slot atomically, so the limit holds for
all the workers on all the machines together (their clocks are assumed in sync, as NTP keeps
them). Without Redis each worker process keeps its own: the limit then holds per process, so
divide the provider's limit by the number of worker processes. If Redis fails, a worker falls
back to its own share until Redis answers again.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from flask import Flask

from flask_mailroom.rules.pacing import Rate, Slot, ahead_for, take_slot

log = logging.getLogger(__name__)

TAKE_SLOT = """
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local ahead = tonumber(ARGV[3])
local start = math.max(tat, now)
if start - now > ahead then
  return {0, tostring(start - now - ahead)}
end
redis.call('SET', KEYS[1], tostring(start + interval), 'PX', ARGV[4])
return {1, tostring(start - now)}
"""


class Pacer(Protocol):
    """Something that hands out sending slots."""

    def take(self, account: bool, now: float) -> Slot:
        """A slot for one message now (account mail may book ahead)."""
        ...


class Unlimited:
    """No rate limit configured: every message may go at once."""

    def take(self, account: bool, now: float) -> Slot:
        """Always granted, no wait."""
        return Slot(True, 0.0, now)


class LocalPacer:
    """The limit kept in this process (shared by its connections)."""

    def __init__(self, rate: Rate) -> None:
        """Start with a free slot."""
        self.rate = rate
        self.tat = 0.0
        self.lock = threading.Lock()

    def take(self, account: bool, now: float) -> Slot:
        """Decide under the lock and keep the new time of the next free slot."""
        with self.lock:
            slot = take_slot(self.tat, now, self.rate.interval, ahead_for(account, self.rate.interval))
            self.tat = slot.tat
            return slot


class RedisPacer:
    """The limit kept in Redis, shared by every worker; this process's own share if Redis fails."""

    def __init__(self, rate: Rate, client: Any, key: str) -> None:
        """``client`` is a redis-py client; ``key`` holds the time of the next free slot."""
        self.rate = rate
        self.client = client
        self.key = key
        self.script = client.register_script(TAKE_SLOT)
        self.fallback = LocalPacer(rate)

    def take(self, account: bool, now: float) -> Slot:
        """Run the script; on a Redis error, decide locally."""
        interval = self.rate.interval
        ahead = ahead_for(account, interval)
        expire_ms = int((ahead + interval) * 1000) + 60_000
        try:
            granted, wait = self.script(keys=[self.key], args=[repr(now), repr(interval), repr(ahead),
                                                               expire_ms])
        except Exception as error:  # redis.RedisError or OSError: keep sending at our own share
            log.warning("rate limit in Redis unavailable (%s); pacing locally", type(error).__name__)
            return self.fallback.take(account, now)
        return Slot(bool(int(granted)), float(wait), now)


def pacer_for(app: Flask, rate: Rate | None) -> Pacer:
    """The pacer MAIL_RATE_LIMIT asks for: none, this process's own, or the one shared in Redis."""
    if rate is None:
        return Unlimited()
    url = app.config.get("REDIS_URL")
    if not url:
        return LocalPacer(rate)
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    return RedisPacer(rate, client, (app.config.get("REDIS_KEY_PREFIX") or "mailroom:") + "mail:rate")
