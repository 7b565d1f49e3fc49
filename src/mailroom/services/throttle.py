"""Sign-in throttling per client and per account, kept in the shared limit store.

Redis when the rate limits use Redis (every web process sees the same counts), else a store in
this process's memory, as the embedded ``memory://`` limits are. The rules are the domain's
``ThrottlePolicy``; a store only offers an atomic read-decide-write of one record. An unreachable
Redis lets sign-in through (logged), as the other limits do: locking everybody out would be worse.

Account keys are made from the identifier as typed (username or address), never from whether an
account has it, so an unknown account is throttled exactly like an existing one.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from typing import Protocol

import redis
from flask import current_app
from redis.backoff import NoBackoff
from redis.retry import Retry

from mailroom.domain.addresses import email_key, username_key
from mailroom.domain.codes import derive_key
from mailroom.domain.throttle import ThrottlePolicy, ThrottleRecord
from mailroom.services.codes import CAS_SCRIPT
from mailroom.state import now, state

log = logging.getLogger(__name__)
SERVICE = "signin_throttle"
KEY_LABEL = "mailroom sign-in throttle v1"
CAS_RETRIES = 8
MEMORY_PURGE_AT = 50_000

Decide = Callable[[ThrottleRecord | None], ThrottleRecord]
Lifetime = Callable[[ThrottleRecord], int]


class ThrottleStore(Protocol):
    """Where throttle records live: one per key, changed atomically."""

    def load(self, key: str) -> ThrottleRecord | None:
        """The record as it is now, or None."""
        ...

    def update(self, key: str, decide: Decide, lifetime: Lifetime) -> ThrottleRecord:
        """Atomically replace the record with ``decide``'s, kept ``lifetime`` seconds; return it."""
        ...

    def discard(self, key: str) -> None:
        """Forget the record."""
        ...


class MemoryThrottleStore:
    """Records in this process (the embedded single-process default), under a lock."""

    def __init__(self) -> None:
        self.records: dict[str, ThrottleRecord] = {}
        self.lock = threading.Lock()

    def load(self, key: str) -> ThrottleRecord | None:
        """The record, if any."""
        with self.lock:
            return self.records.get(key)

    def update(self, key: str, decide: Decide, lifetime: Lifetime) -> ThrottleRecord:
        """Decide under the lock; drop records that no longer matter once there are many."""
        with self.lock:
            record = decide(self.records.get(key))
            self.records[key] = record
            if len(self.records) > MEMORY_PURGE_AT:
                self.records = {k: r for k, r in self.records.items() if lifetime(r) > 0}
            return record

    def discard(self, key: str) -> None:
        """Forget the record."""
        with self.lock:
            self.records.pop(key, None)


def _ms(moment: datetime | None) -> str:
    """A time as epoch milliseconds ('' for none), for a hash field."""
    return str(round(moment.timestamp() * 1000)) if moment else ""


def _moment(text: str | None) -> datetime | None:
    """Epoch milliseconds back to an aware UTC time."""
    return datetime.fromtimestamp(int(text) / 1000, UTC) if text else None


def record_from_hash(fields: dict[str, str]) -> ThrottleRecord | None:
    """A record from a Redis hash, or None for a missing key."""
    if not fields:
        return None
    return ThrottleRecord(failures=int(fields.get("f", "0")), last_failure=_moment(fields.get("l")),
                          locked_until=_moment(fields.get("u")), notified=fields.get("n") == "1")


class RedisThrottleStore:
    """Records in Redis hashes under ``<prefix>signin:<key>``, each with a TTL."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self.cas = client.register_script(CAS_SCRIPT)

    @classmethod
    def from_url(cls, url: str, prefix: str) -> RedisThrottleStore:
        """A store on a client that fails fast when Redis is down."""
        client = redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=1,
                                      socket_timeout=2, retry=Retry(NoBackoff(), 1))
        return cls(client, prefix)

    def load(self, key: str) -> ThrottleRecord | None:
        """The stored record."""
        fields: dict[str, str] = self.client.hgetall(self.prefix + key)  # type: ignore[assignment]
        return record_from_hash(fields)

    def update(self, key: str, decide: Decide, lifetime: Lifetime) -> ThrottleRecord:
        """Optimistic read-decide-write, retried when another request wrote in between."""
        full = self.prefix + key
        for _ in range(CAS_RETRIES):
            fields: dict[str, str] = self.client.hgetall(full)  # type: ignore[assignment]
            record = decide(record_from_hash(fields))
            args: list[str | int] = [fields.get("v", ""), lifetime(record) * 1000,
                                     "f", record.failures, "l", _ms(record.last_failure),
                                     "u", _ms(record.locked_until), "n", int(record.notified),
                                     "v", secrets.token_hex(8)]
            if self.cas(keys=[full], args=args):
                return record
        raise redis.RedisError("too much contention on one throttle record")

    def discard(self, key: str) -> None:
        """Delete the key."""
        self.client.delete(self.prefix + key)


def build_store() -> ThrottleStore:
    """Redis when the rate limits are kept in Redis, else this process's memory."""
    config = current_app.config
    uri = str(config["RATELIMIT_STORAGE_URI"])
    if uri.startswith(("redis://", "rediss://")):
        return RedisThrottleStore.from_url(uri, config["REDIS_KEY_PREFIX"] + "signin:")
    return MemoryThrottleStore()


def store() -> ThrottleStore:
    """The application's throttle store, created on first use."""
    services = state().services
    if SERVICE not in services:
        services[SERVICE] = build_store()
    found: ThrottleStore = services[SERVICE]
    return found


# --- the rules, from configuration -----------------------------------------------------------


def _policy(lockout_after_key: str) -> ThrottlePolicy:
    """A policy from the SIGNIN_* settings, with the given lockout threshold."""
    config = current_app.config
    return ThrottlePolicy(free_failures=config["SIGNIN_FREE_FAILURES"],
                          base_delay=config["SIGNIN_DELAY_BASE"], max_delay=config["SIGNIN_DELAY_MAX"],
                          lockout_after=config[lockout_after_key], lockout=config["SIGNIN_LOCKOUT"],
                          window=config["SIGNIN_WINDOW"])


@dataclass(frozen=True)
class Keys:
    """The two records one attempt counts against."""

    client: str
    account: str


def _hashed(kind: str, value: str) -> str:
    """A store key that names neither the client nor the account in clear."""
    key = derive_key(current_app.config["SECRET_KEY"], KEY_LABEL)
    return f"{kind}:{hmac.new(key, value.encode('utf-8', 'surrogatepass'), sha256).hexdigest()[:32]}"


def identifier_key(identifier: str) -> str:
    """The account key of an identifier as typed: its address or its username, case-folded."""
    text = identifier.strip()
    return "email:" + email_key(text) if "@" in text else "name:" + username_key(text)


def keys_for(identifier: str, client: str) -> Keys:
    """The client's and the typed account's keys."""
    return Keys(client=_hashed("client", client), account=_hashed("account", identifier_key(identifier)))


def enabled() -> bool:
    """Throttling follows RATELIMIT_ENABLED, like every other limit."""
    return bool(current_app.config["RATELIMIT_ENABLED"])


def wait_seconds(keys: Keys) -> int:
    """Seconds before this client may try this account again; zero when it may try now."""
    if not enabled():
        return 0
    moment = now()
    try:
        return max(_policy("SIGNIN_CLIENT_LOCKOUT_AFTER").wait(store().load(keys.client), moment),
                   _policy("SIGNIN_ACCOUNT_LOCKOUT_AFTER").wait(store().load(keys.account), moment))
    except (redis.RedisError, OSError) as error:
        log.warning("sign-in throttle unavailable (%s); allowing", type(error).__name__)
        return 0


def _count(key: str, policy: ThrottlePolicy, notify: bool) -> bool:
    """Count one failure under ``key``; True when the owner should be told now (once per episode)."""
    moment = now()
    told: list[bool] = []

    def decide(record: ThrottleRecord | None) -> ThrottleRecord:
        """One more failure; mark the episode as told when it turns suspicious."""
        updated = policy.fail(record, moment)
        tell = notify and policy.is_suspicious(updated) and not updated.notified
        told[:] = [tell]
        return ThrottleRecord(updated.failures, updated.last_failure, updated.locked_until,
                              updated.notified or tell)

    store().update(key, decide, lambda record: policy.lifetime(record, moment))
    return bool(told and told[0])


def record_failure(keys: Keys, account_exists: bool) -> bool:
    """Count a failed sign-in for the client and the account; True when the owner should be emailed."""
    if not enabled():
        return False
    try:
        _count(keys.client, _policy("SIGNIN_CLIENT_LOCKOUT_AFTER"), notify=False)
        return _count(keys.account, _policy("SIGNIN_ACCOUNT_LOCKOUT_AFTER"), notify=account_exists)
    except (redis.RedisError, OSError) as error:
        log.warning("sign-in throttle unavailable (%s); not counted", type(error).__name__)
        return False


def forget_accounts(*identifiers: str) -> None:
    """Clear the account records of these identifiers (a successful sign-in or a reset)."""
    try:
        for identifier in identifiers:
            store().discard(_hashed("account", identifier_key(identifier)))
    except (redis.RedisError, OSError) as error:
        log.warning("sign-in throttle unavailable (%s); not cleared", type(error).__name__)
