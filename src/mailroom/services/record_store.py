"""One atomic read-decide-write store for small records, in Redis or in this process's memory.

A caller passes a pure ``decide(old) -> (new, result)``; the store reads the record under a key,
lets ``decide`` judge it and writes the new one only if nobody changed the key meanwhile. Redis
keeps each record as a hash with a version field, written by a compare-and-set Lua script and
re-read on a conflict; the memory store decides under a lock. Codes and sign-in throttles use it.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, Protocol, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

R = TypeVar("R")
T = TypeVar("T")
Decide = Callable[[R | None], tuple[R, T]]
Lifetime = Callable[[R], int]

CAS_RETRIES = 8
VERSION = "v"
MEMORY_PURGE_AT = 50_000
# KEYS[1]: the record; ARGV[1]: the version read ('' when absent); ARGV[2]: lifetime in ms
# (0 = delete); ARGV[3..]: field, value pairs of the new record, its new version included.
CAS_SCRIPT = """
local current = redis.call('HGET', KEYS[1], 'v') or ''
if current ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 3))
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1
"""


class StoreUnavailable(RuntimeError):
    """Redis cannot be reached, or one record stayed contended; nothing was read or changed."""


class RecordStore(Protocol[R]):
    """Where records of one kind live, one per key, changed atomically."""

    def load(self, key: str) -> R | None:
        """The record as it is now, or None."""
        ...

    def update(self, key: str, decide: Decide[R, T], lifetime_ms: Lifetime[R]) -> T:
        """Replace the record with ``decide``'s, kept ``lifetime_ms`` ms (0: drop); its result."""
        ...

    def discard(self, key: str) -> None:
        """Forget the record."""
        ...


# --- in this process ---------------------------------------------------------------------------


class MemoryRecordStore(Generic[R]):
    """Records in this process (embedded, single process), decided under a lock."""

    def __init__(self) -> None:
        self.records: dict[str, R] = {}
        self.lock = threading.Lock()

    def load(self, key: str) -> R | None:
        """The record, if any."""
        with self.lock:
            return self.records.get(key)

    def update(self, key: str, decide: Decide[R, T], lifetime_ms: Lifetime[R]) -> T:
        """Decide under the lock; drop records that no longer matter once there are many."""
        with self.lock:
            record, result = decide(self.records.get(key))
            self.records[key] = record
            if len(self.records) > MEMORY_PURGE_AT:
                self.records = {k: r for k, r in self.records.items() if lifetime_ms(r) > 0}
            return result

    def discard(self, key: str) -> None:
        """Forget the record."""
        with self.lock:
            self.records.pop(key, None)


# --- in Redis ------------------------------------------------------------------------------------


def to_ms(moment: datetime | None) -> str | None:
    """A time as epoch milliseconds for a hash field; None (left out) when unset."""
    return None if moment is None else str(round(moment.timestamp() * 1000))


def from_ms(text: str | None) -> datetime | None:
    """Epoch milliseconds from a hash field back to an aware UTC time."""
    return datetime.fromtimestamp(int(text) / 1000, UTC) if text else None


def present(fields: Mapping[str, str | None]) -> dict[str, str]:
    """The hash fields that have a value (Redis stores no None)."""
    return {name: value for name, value in fields.items() if value is not None}


@dataclass(frozen=True)
class HashCodec(Generic[R]):
    """How one kind of record becomes Redis hash fields and back (``decode`` sees a present key)."""

    encode: Callable[[R], dict[str, str]]
    decode: Callable[[Mapping[str, str]], R]


def fail_fast_client(url: str) -> redis.Redis:
    """A client that gives up quickly when Redis is down (one quick retry)."""
    return redis.Redis.from_url(url, decode_responses=True, socket_connect_timeout=1,
                                socket_timeout=2, retry=Retry(NoBackoff(), 1))


class RedisRecordStore(Generic[R]):
    """Records as Redis hashes under ``prefix + key``, each with a TTL, changed by compare-and-set."""

    def __init__(self, client: redis.Redis, prefix: str, codec: HashCodec[R],
                 unavailable: type[StoreUnavailable] = StoreUnavailable) -> None:
        self.client = client
        self.prefix = prefix
        self.codec = codec
        self.unavailable = unavailable
        self.cas = client.register_script(CAS_SCRIPT)

    def _read(self, key: str) -> dict[str, str]:
        """The hash of one record ({} when absent)."""
        try:
            fields: dict[str, str] = self.client.hgetall(self.prefix + key)  # type: ignore[assignment]
        except (redis.RedisError, OSError) as error:
            raise self.unavailable(type(error).__name__) from None
        return fields

    def _decoded(self, fields: Mapping[str, str]) -> R | None:
        """The record a hash holds, or None for a missing key."""
        return self.codec.decode(fields) if fields else None

    def _swap(self, key: str, version: str, record: R, lifetime_ms: int) -> bool:
        """Write the record if the key still has ``version``; False when someone else wrote."""
        fields = self.codec.encode(record) | {VERSION: secrets.token_hex(8)}
        args: list[str | int] = [version, lifetime_ms]
        for name, value in fields.items():
            args += [name, value]
        try:
            return bool(self.cas(keys=[self.prefix + key], args=args))
        except (redis.RedisError, OSError) as error:
            raise self.unavailable(type(error).__name__) from None

    def load(self, key: str) -> R | None:
        """The stored record."""
        return self._decoded(self._read(key))

    def update(self, key: str, decide: Decide[R, T], lifetime_ms: Lifetime[R]) -> T:
        """Optimistic read-decide-write, retried when another writer got in between."""
        for _ in range(CAS_RETRIES):
            fields = self._read(key)
            record, result = decide(self._decoded(fields))
            if self._swap(key, fields.get(VERSION, ""), record, lifetime_ms(record)):
                return result
        raise self.unavailable("too much contention on one record")

    def discard(self, key: str) -> None:
        """Delete the key."""
        try:
            self.client.delete(self.prefix + key)
        except (redis.RedisError, OSError) as error:
            raise self.unavailable(type(error).__name__) from None
