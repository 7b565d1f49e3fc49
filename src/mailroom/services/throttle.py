"""Sign-in throttling per client and per account, kept in the shared limit store.

Redis when the rate limits use Redis (every web process sees the same counts), else a store in
this process's memory, as the embedded ``memory://`` limits are; both are ``services.record_store``'s
atomic read-decide-write, and the rules are the domain's ``ThrottlePolicy``. An unreachable Redis
lets sign-in through (logged), as the other limits do: locking everybody out would be worse.

Account keys are made from the identifier as typed (username or address), never from whether an
account has it, so an unknown account is throttled exactly like an existing one.

A browser the account trusts (``services.devices``) is judged by a record of its own instead
(OWASP's device cookies): guessers from its network or at its account never stop it, and its own
failures pause only it, under the per-account rules.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from hashlib import sha256

from flask import current_app

from mailroom.domain.addresses import email_key, username_key
from mailroom.domain.codes import derive_key
from mailroom.domain.throttle import ThrottlePolicy, ThrottleRecord
from mailroom.services.record_store import (
    HashCodec,
    MemoryRecordStore,
    RecordStore,
    RedisRecordStore,
    StoreUnavailable,
    fail_fast_client,
    from_ms,
    present,
    to_ms,
)
from mailroom.state import now, state

log = logging.getLogger(__name__)
SERVICE = "signin_throttle"
KEY_LABEL = "mailroom sign-in throttle v1"


def record_from_hash(fields: Mapping[str, str]) -> ThrottleRecord:
    """A record from the Redis hash of a present key."""
    return ThrottleRecord(failures=int(fields.get("f", "0")), last_failure=from_ms(fields.get("l")),
                          locked_until=from_ms(fields.get("u")), notified=fields.get("n") == "1")


def hash_from_record(record: ThrottleRecord) -> dict[str, str]:
    """The Redis hash fields of a record, leaving out what is unset."""
    return present({"f": str(record.failures), "l": to_ms(record.last_failure),
                    "u": to_ms(record.locked_until), "n": str(int(record.notified))})


CODEC = HashCodec(encode=hash_from_record, decode=record_from_hash)


def build_store() -> RecordStore[ThrottleRecord]:
    """Redis (``<prefix>signin:<key>``) when the rate limits are kept there, else this process."""
    config = current_app.config
    uri = str(config["RATELIMIT_STORAGE_URI"])
    if uri.startswith(("redis://", "rediss://")):
        return RedisRecordStore(fail_fast_client(uri), config["REDIS_KEY_PREFIX"] + "signin:", CODEC)
    return MemoryRecordStore()


def store() -> RecordStore[ThrottleRecord]:
    """The application's throttle store, created on first use."""
    services = state().services
    if SERVICE not in services:
        services[SERVICE] = build_store()
    found: RecordStore[ThrottleRecord] = services[SERVICE]
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
    """The records one attempt counts against: the client's and the account's, or a trusted device's."""

    client: str
    account: str
    device: str | None = None


def _hashed(kind: str, value: str) -> str:
    """A store key that names neither the client nor the account in clear."""
    key = derive_key(current_app.config["SECRET_KEY"], KEY_LABEL)
    return f"{kind}:{hmac.new(key, value.encode('utf-8', 'surrogatepass'), sha256).hexdigest()[:32]}"


def identifier_key(identifier: str) -> str:
    """The account key of an identifier as typed: its address or its username, case-folded."""
    text = identifier.strip()
    return "email:" + email_key(text) if "@" in text else "name:" + username_key(text)


def keys_for(identifier: str, client: str, device_id: int | None = None) -> Keys:
    """The client's and the typed account's keys, and the trusted device's when the browser has one."""
    device = _hashed("device", str(device_id)) if device_id is not None else None
    return Keys(client=_hashed("client", client), account=_hashed("account", identifier_key(identifier)),
                device=device)


def enabled() -> bool:
    """Throttling follows RATELIMIT_ENABLED, like every other limit."""
    return bool(current_app.config["RATELIMIT_ENABLED"])


def wait_seconds(keys: Keys) -> int:
    """Seconds before this client may try this account again; zero when it may try now."""
    if not enabled():
        return 0
    moment = now()
    try:
        if keys.device is not None:
            return _policy("SIGNIN_ACCOUNT_LOCKOUT_AFTER").wait(store().load(keys.device), moment)
        return max(_policy("SIGNIN_CLIENT_LOCKOUT_AFTER").wait(store().load(keys.client), moment),
                   _policy("SIGNIN_ACCOUNT_LOCKOUT_AFTER").wait(store().load(keys.account), moment))
    except StoreUnavailable as error:
        log.warning("sign-in throttle unavailable (%s); allowing", type(error).__name__)
        return 0


def _count(key: str, policy: ThrottlePolicy, notify: bool) -> bool:
    """Count one failure under ``key``; True when the owner should be told now (once per episode)."""
    moment = now()

    def decide(record: ThrottleRecord | None) -> tuple[ThrottleRecord, bool]:
        """One more failure; mark the episode as told when it turns suspicious."""
        updated = policy.fail(record, moment)
        tell = notify and policy.is_suspicious(updated) and not updated.notified
        return replace(updated, notified=updated.notified or tell), tell

    return store().update(key, decide, lambda record: 1000 * policy.lifetime(record, moment))


def record_failure(keys: Keys, account_exists: bool) -> bool:
    """Count a failed sign-in for the client and the account, or for the trusted device alone;
    True when the owner should be emailed."""
    if not enabled():
        return False
    try:
        if keys.device is not None:
            return _count(keys.device, _policy("SIGNIN_ACCOUNT_LOCKOUT_AFTER"), notify=account_exists)
        _count(keys.client, _policy("SIGNIN_CLIENT_LOCKOUT_AFTER"), notify=False)
        return _count(keys.account, _policy("SIGNIN_ACCOUNT_LOCKOUT_AFTER"), notify=account_exists)
    except StoreUnavailable as error:
        log.warning("sign-in throttle unavailable (%s); not counted", type(error).__name__)
        return False


def forget_device(keys: Keys) -> None:
    """Clear a trusted device's own record (its successful sign-in); the account's stays as it is."""
    if keys.device is None:
        return
    try:
        store().discard(keys.device)
    except StoreUnavailable as error:
        log.warning("sign-in throttle unavailable (%s); not cleared", type(error).__name__)


def forget_accounts(*identifiers: str) -> None:
    """Clear the account records of these identifiers (a successful sign-in or a reset)."""
    try:
        for identifier in identifiers:
            store().discard(_hashed("account", identifier_key(identifier)))
    except StoreUnavailable as error:
        log.warning("sign-in throttle unavailable (%s); not cleared", type(error).__name__)
