"""Verification codes kept in Redis (production) or the database (embedded), with one behaviour.

Both stores offer the same atomic step, ``update``: read the record of one purpose and user,
let the domain policy decide the new record, and write it only if nobody changed it meanwhile.
The database store holds a row lock for the rest of the caller's transaction; the Redis store
is the shared compare-and-set ``RedisRecordStore`` (``services.record_store``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import redis
from flask import Flask, current_app
from limits.errors import StorageError
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from mailroom.domain.codes import (
    CodePolicy,
    CodeRecord,
    Redemption,
    code_digest,
    code_matches,
    derive_key,
    generate_code,
    normalize_code,
    seconds_until,
)
from mailroom.domain.errors import CodeError
from mailroom.extensions import db
from mailroom.models import VerificationCode
from mailroom.services import budget
from mailroom.services.record_store import (
    HashCodec,
    RedisRecordStore,
    StoreUnavailable,
    fail_fast_client,
    from_ms,
    present,
    to_ms,
)
from mailroom.state import now, state

EMAIL_CHANGE = "email_change"
CONFIRM_EMAIL = "confirm_email"
SERVICE = "code_store"
KEY_LABEL = "mailroom verification codes v1"

T = TypeVar("T")
Decide = Callable[[CodeRecord | None], tuple[CodeRecord, T]]


class CodeStoreUnavailable(StoreUnavailable):
    """The code store (Redis) cannot be reached; nothing was read or changed."""


class BudgetSpent(Exception):
    """The address has had its share of account emails this hour; nothing was sent."""

    def __init__(self, address: str) -> None:
        super().__init__("account email budget spent")
        self.address = address


@dataclass(frozen=True)
class IssuedCode:
    """A code just stored: the raw code (for the email only) and its timings in seconds."""

    code: str
    email: str
    resend_after: int
    expires_in: int


@dataclass(frozen=True)
class PendingCode:
    """What a user may know about their code: where it went, and its timings in seconds."""

    email: str | None
    resend_after: int
    expires_in: int
    locked: bool = False


class CodeStore(Protocol):
    """Where codes live: one record per purpose and user, changed atomically."""

    def load(self, purpose: str, user_id: int) -> CodeRecord | None:
        """The record as it is now, or None."""
        ...

    def update(self, purpose: str, user_id: int, decide: Decide[T], moment: datetime) -> T:
        """Atomically replace the record with what ``decide`` makes of it; return its result."""
        ...

    def discard(self, purpose: str, user_id: int) -> None:
        """Forget the record."""
        ...


# --- the database store ------------------------------------------------------------------------


def _record_of(row: VerificationCode) -> CodeRecord:
    """A domain record from a row."""
    return CodeRecord(code_hash=row.code_hash, email=row.email, expires_at=row.expires_at,
                      resend_at=row.resend_at, failures=row.failures,
                      failures_expire_at=row.failures_expire_at)


def _copy_into(row: VerificationCode, record: CodeRecord) -> None:
    """Write a domain record's fields onto a row."""
    row.code_hash = record.code_hash
    row.email = record.email
    row.expires_at = record.expires_at
    row.resend_at = record.resend_at
    row.failures = record.failures
    row.failures_expire_at = record.failures_expire_at


class DatabaseCodeStore:
    """Codes in ``verification_codes``; writes join the caller's transaction, which commits."""

    def load(self, purpose: str, user_id: int) -> CodeRecord | None:
        """The stored record, without locking."""
        row = db.session.get(VerificationCode, (purpose, user_id), populate_existing=True)
        return None if row is None else _record_of(row)

    def _ensure_row(self, purpose: str, user_id: int) -> None:
        """Create the empty row if missing, so there is always a row to lock."""
        dialect = db.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        db.session.execute(insert(VerificationCode)
                           .values(purpose=purpose, user_id=user_id, failures=0)
                           .on_conflict_do_nothing())

    def _locked(self, purpose: str, user_id: int) -> VerificationCode:
        """The row, locked until the transaction ends (SQLite's BEGIN IMMEDIATE locks already)."""
        self._ensure_row(purpose, user_id)
        row = db.session.scalars(
            select(VerificationCode)
            .where(VerificationCode.purpose == purpose, VerificationCode.user_id == user_id)
            .with_for_update().execution_options(populate_existing=True)
        ).one()
        return row

    def update(self, purpose: str, user_id: int, decide: Decide[T], moment: datetime) -> T:
        """Lock, decide, write; the caller's commit makes it durable and releases the lock."""
        row = self._locked(purpose, user_id)
        record, result = decide(_record_of(row))
        _copy_into(row, record)
        db.session.flush()
        return result

    def discard(self, purpose: str, user_id: int) -> None:
        """Delete the row (the caller commits)."""
        db.session.execute(delete(VerificationCode).where(
            VerificationCode.purpose == purpose, VerificationCode.user_id == user_id))


# --- the Redis store ---------------------------------------------------------------------------

_TIMES = {"x": "expires_at", "r": "resend_at", "fx": "failures_expire_at"}


def record_from_hash(fields: Mapping[str, str]) -> CodeRecord:
    """A domain record from the Redis hash of a present key."""
    return CodeRecord(code_hash=fields.get("h"), email=fields.get("e"),
                      failures=int(fields.get("f", "0")),
                      **{name: from_ms(fields.get(short)) for short, name in _TIMES.items()})


def hash_from_record(record: CodeRecord) -> dict[str, str]:
    """The Redis hash fields of a record, leaving out what is unset."""
    times = {short: to_ms(getattr(record, name)) for short, name in _TIMES.items()}
    return present({"h": record.code_hash, "e": record.email, "f": str(record.failures), **times})


CODEC = HashCodec(encode=hash_from_record, decode=record_from_hash)


class RedisCodeStore:
    """Codes in Redis under ``<prefix>code:<purpose>:<user_id>``, each key with a TTL."""

    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self.records = RedisRecordStore(client, prefix, CODEC, unavailable=CodeStoreUnavailable)

    @classmethod
    def from_url(cls, url: str, prefix: str) -> RedisCodeStore:
        """A store on a new client that fails fast when Redis is down."""
        return cls(fail_fast_client(url), prefix)

    @staticmethod
    def _name(purpose: str, user_id: int) -> str:
        """The record's name below the prefix."""
        return f"code:{purpose}:{user_id}"

    def key(self, purpose: str, user_id: int) -> str:
        """The Redis key of one purpose and user."""
        return self.records.prefix + self._name(purpose, user_id)

    def load(self, purpose: str, user_id: int) -> CodeRecord | None:
        """The stored record."""
        return self.records.load(self._name(purpose, user_id))

    def update(self, purpose: str, user_id: int, decide: Decide[T], moment: datetime) -> T:
        """Compare-and-set, kept until nothing in the record matters any more."""
        return self.records.update(self._name(purpose, user_id), decide,
                                   lambda record: record.lifetime_ms(moment))

    def discard(self, purpose: str, user_id: int) -> None:
        """Delete the key."""
        self.records.discard(self._name(purpose, user_id))


# --- choosing and using the store ----------------------------------------------------------------


def build_store(config: Mapping[str, Any]) -> CodeStore:
    """Redis when REDIS_URL is set, else the database."""
    if config.get("REDIS_URL"):
        return RedisCodeStore.from_url(config["REDIS_URL"], config["REDIS_KEY_PREFIX"])
    return DatabaseCodeStore()


def store(app: Flask | None = None) -> CodeStore:
    """The application's code store, created once and kept with the application."""
    target = app or current_app
    services = state(target).services
    if SERVICE not in services:
        services[SERVICE] = build_store(target.config)
    found: CodeStore = services[SERVICE]
    return found


def policy() -> CodePolicy:
    """The configured lifetime, attempt limit and cooldown."""
    config = current_app.config
    return CodePolicy.from_settings(config["EMAIL_CODE_TTL"], config["EMAIL_CODE_MAX_ATTEMPTS"],
                                    config["EMAIL_CODE_RESEND_COOLDOWN"])


def hashing_key() -> bytes:
    """The HMAC key for codes, derived from SECRET_KEY."""
    return derive_key(current_app.config["SECRET_KEY"], KEY_LABEL)


def check_resend(purpose: str, user_id: int) -> None:
    """Raise CooldownActive when a new code cannot be sent yet (checked again when issuing)."""
    policy().check_resend(store().load(purpose, user_id), now())


def expiry(issued: IssuedCode) -> datetime:
    """When an issued code stops working, by the application's clock."""
    return now() + timedelta(seconds=issued.expires_in)


def issue_code(purpose: str, user_id: int, email: str, rules: CodePolicy | None = None) -> IssuedCode:
    """Store a new code for ``email`` (keeping the failure count) and return it for the email;
    ``rules``: another flow's lifetime and limits than the EMAIL_CODE_* settings."""
    moment, rules = now(), rules or policy()
    code = generate_code()
    digest = code_digest(hashing_key(), purpose, user_id, email, code)

    def decide(record: CodeRecord | None) -> tuple[CodeRecord, CodeRecord]:
        """The record with the new code, which is also the result."""
        issued = rules.issue(record, digest, email, moment)
        return issued, issued

    record = store().update(purpose, user_id, decide, moment)
    return IssuedCode(code=code, email=email, resend_after=seconds_until(record.resend_at, moment),
                      expires_in=seconds_until(record.expires_at, moment))


def redeem_recorded(purpose: str, user_id: int, typed: str, rules: CodePolicy | None = None) -> str:
    """Redeem like ``redeem_code``, committing a failed attempt so its count survives the error."""
    try:
        return redeem_code(purpose, user_id, typed, rules)
    except CodeError:
        db.session.commit()
        raise


def redeem_code(purpose: str, user_id: int, typed: str, rules: CodePolicy | None = None) -> str:
    """Use the code once: the address it was sent to, or a CodeError (the attempt is recorded)."""
    code = normalize_code(typed)
    moment, rules, key = now(), rules or policy(), hashing_key()

    def decide(record: CodeRecord | None) -> tuple[CodeRecord, Redemption]:
        """Judge the attempt against the record as stored now."""
        outcome = rules.redeem(record, lambda r: code_matches(key, purpose, user_id, r, code), moment)
        return outcome.record, outcome

    return store().update(purpose, user_id, decide, moment).result()


def pending(purpose: str, user_id: int) -> PendingCode | None:
    """Where the live code went and its timings, or None when there is nothing to tell."""
    record, moment = store().load(purpose, user_id), now()
    if record is None:
        return None
    live = record.is_live(moment)
    wait, locked = policy().resend_wait(record, moment)
    info = PendingCode(email=record.email if live else None, resend_after=wait,
                       expires_in=seconds_until(record.expires_at, moment) if live else 0, locked=locked)
    return info if info.email or info.resend_after else None


def discard(purpose: str, user_id: int) -> None:
    """Forget the user's code for ``purpose`` (database store: in the caller's transaction)."""
    store().discard(purpose, user_id)


def require_budget(address: str) -> None:
    """Raise BudgetSpent when the address has no email left this hour, without spending one."""
    if not current_app.config["RATELIMIT_ENABLED"]:
        return
    try:
        left = budget.remaining(address)
    except (StorageError, redis.RedisError, OSError):
        return  # as budget.spend does: an unreachable limit store never blocks account mail
    if left < 1:
        raise BudgetSpent(address)


def reserve_email(address: str) -> None:
    """Take one email from the address's hourly budget, or raise BudgetSpent."""
    if not budget.spend(address):
        raise BudgetSpent(address)


def minutes(seconds: int) -> int:
    """Seconds as whole minutes for people, rounded up."""
    return max(1, math.ceil(seconds / 60))

