"""Verification codes: generation, normalisation, keyed hashing and the rules of their life.

Flask-free: the random source, the key and the current time are always passed in. A store
keeps one ``CodeRecord`` per purpose and user; ``CodePolicy`` says what each request does to it.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from mailroom.domain.addresses import email_key
from mailroom.domain.errors import (
    N_,
    CodeError,
    CodeExhausted,
    CodeExpired,
    CodeMismatch,
    CooldownActive,
)

# No 0/O, 1/I/L: nothing a reader could mistake for another character.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 6
MIN_TTL = 60

Chooser = Callable[[str], str]


class CodeMalformed(CodeError):
    """The text cannot be a code (wrong length or characters), so no attempt is spent on it."""


class LockedOut(CooldownActive):
    """Too many wrong codes lately: no new code until the failures are forgotten."""


def generate_code(choose: Chooser = secrets.choice, length: int = CODE_LENGTH) -> str:
    """A new code of ``length`` characters, each drawn from ALPHABET by ``choose``."""
    return "".join(choose(ALPHABET) for _ in range(length))


def normalize_code(text: str) -> str:
    """The canonical form of a typed code (upper case, spaces ignored), else CodeMalformed."""
    code = "".join(text.split()).upper()
    if len(code) != CODE_LENGTH or any(char not in ALPHABET for char in code):
        raise CodeMalformed(N_("Enter the %(length)d-character code from the email."), length=CODE_LENGTH)
    return code


def derive_key(secret: str | bytes, label: str) -> bytes:
    """A key for one use, derived from the application secret so the secret itself is never used."""
    raw = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(raw, label.encode(), hashlib.sha256).digest()


def code_digest(key: bytes, purpose: str, user_id: int, email: str, code: str) -> str:
    """The keyed hash kept instead of the code, bound to its purpose, user and address."""
    # NUL separators: no field can hold one, so no two inputs share a message.
    message = "\x00".join((purpose, str(user_id), email_key(email), code))
    return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()


def seconds_until(moment: datetime | None, now: datetime) -> int:
    """Whole seconds from ``now`` to ``moment``, rounded up; zero when it has passed or is unset."""
    if moment is None:
        return 0
    return max(0, math.ceil((moment - now).total_seconds()))


@dataclass(frozen=True)
class CodeRecord:
    """What a store keeps for one purpose and user: the code's hash and its counters."""

    code_hash: str | None = None
    email: str | None = None
    expires_at: datetime | None = None
    resend_at: datetime | None = None
    failures: int = 0
    failures_expire_at: datetime | None = None

    def is_live(self, now: datetime) -> bool:
        """Whether a code is waiting to be used and has not expired."""
        return self.code_hash is not None and self.expires_at is not None and now < self.expires_at

    def failures_at(self, now: datetime) -> int:
        """Wrong tries that still count: they are forgotten when their window ends."""
        if self.failures_expire_at is None or now >= self.failures_expire_at:
            return 0
        return self.failures

    def forget_by(self) -> datetime | None:
        """The moment after which nothing in the record matters any more."""
        moments = [m for m in (self.expires_at, self.resend_at, self.failures_expire_at) if m]
        return max(moments) if moments else None

    def lifetime_ms(self, now: datetime) -> int:
        """Milliseconds a store must keep the record; zero when it can be dropped now."""
        end = self.forget_by()
        if end is None:
            return 0
        return max(0, math.ceil((end - now).total_seconds() * 1000))


@dataclass(frozen=True)
class Redemption:
    """The outcome of one attempt: the record to store, and either the address or the error."""

    record: CodeRecord
    email: str | None = None
    error: CodeError | None = None

    def result(self) -> str:
        """The address the code was sent to, or raise the attempt's error."""
        if self.error is not None:
            raise self.error
        assert self.email is not None
        return self.email


@dataclass(frozen=True)
class CodePolicy:
    """Lifetime, allowed wrong tries and resend cooldown, and what each request does."""

    ttl: int = 600
    max_attempts: int = 5
    resend_cooldown: int = 60

    @classmethod
    def from_settings(cls, ttl: int, max_attempts: int, resend_cooldown: int) -> CodePolicy:
        """A policy from configuration, never below the floors (a code lives at least 60 s)."""
        return cls(ttl=max(MIN_TTL, ttl), max_attempts=max(1, max_attempts),
                   resend_cooldown=max(0, resend_cooldown))

    def check_resend(self, record: CodeRecord | None, now: datetime) -> None:
        """Raise CooldownActive (or LockedOut) when no new code may be sent yet."""
        if record is None:
            return
        if record.failures_at(now) >= self.max_attempts:
            raise LockedOut(seconds_until(record.failures_expire_at, now))
        if record.resend_at is not None and now < record.resend_at:
            raise CooldownActive(seconds_until(record.resend_at, now))

    def resend_wait(self, record: CodeRecord | None, now: datetime) -> tuple[int, bool]:
        """Seconds until a new code may be sent, and whether that wait is a lockout (wrong codes)."""
        try:
            self.check_resend(record, now)
        except LockedOut as error:
            return error.retry_after, True
        except CooldownActive as error:
            return error.retry_after, False
        return 0, False

    def issue(self, record: CodeRecord | None, code_hash: str, email: str,
              now: datetime) -> CodeRecord:
        """The record holding a new code; the failure count of the old one is kept."""
        self.check_resend(record, now)
        previous = record or CodeRecord()
        failures = previous.failures_at(now)
        return CodeRecord(
            code_hash=code_hash, email=email, expires_at=now + timedelta(seconds=self.ttl),
            resend_at=now + timedelta(seconds=self.resend_cooldown), failures=failures,
            failures_expire_at=previous.failures_expire_at if failures else None,
        )

    def redeem(self, record: CodeRecord | None, matches: Callable[[CodeRecord], bool],
               now: datetime) -> Redemption:
        """Judge one attempt; ``matches`` compares the typed code with the record's hash."""
        current = record or CodeRecord()
        if current.failures_at(now) >= self.max_attempts:
            return Redemption(self._void(current), error=CodeExhausted("too many wrong codes"))
        if not current.is_live(now):
            return Redemption(self._void(current), error=CodeExpired("no live code"))
        if matches(current):
            return Redemption(replace(self._void(current), failures=0, failures_expire_at=None),
                              email=current.email)
        return self._wrong(current, now)

    def _wrong(self, record: CodeRecord, now: datetime) -> Redemption:
        """Count a wrong try; the last allowed one voids the code."""
        failures = record.failures_at(now) + 1
        updated = replace(record, failures=failures,
                          failures_expire_at=now + timedelta(seconds=self.ttl))
        if failures >= self.max_attempts:
            updated = self._void(updated)
        return Redemption(updated, error=CodeMismatch(max(0, self.max_attempts - failures)))

    @staticmethod
    def _void(record: CodeRecord) -> CodeRecord:
        """The record without its code (used, expired or exhausted), counters kept."""
        return replace(record, code_hash=None, email=None, expires_at=None)


class CodeState(Enum):
    """The one state a page shows for a code: waiting, voided by wrong tries, timed out, or used."""

    PENDING = "pending"
    VOID = "void"
    EXPIRED = "expired"
    USED = "used"


def code_state(record: CodeRecord | None, now: datetime, max_attempts: int) -> CodeState:
    """The state of the record's code at ``now`` (no record: EXPIRED): VOID while its wrong tries
    still count, USED when it holds no code any more (used, voided once its tries are forgotten, or
    dropped by a try after it expired), else PENDING or EXPIRED."""
    if record is None:
        return CodeState.EXPIRED
    if record.failures_at(now) >= max_attempts:
        return CodeState.VOID
    if record.is_live(now):
        return CodeState.PENDING
    return CodeState.EXPIRED if record.code_hash is not None else CodeState.USED


def code_matches(key: bytes, purpose: str, user_id: int, record: CodeRecord, code: str) -> bool:
    """Whether ``code`` is the one whose hash the record keeps, compared in constant time."""
    if record.code_hash is None or record.email is None:
        return False
    expected = code_digest(key, purpose, user_id, record.email, code)
    return hmac.compare_digest(expected, record.code_hash)
