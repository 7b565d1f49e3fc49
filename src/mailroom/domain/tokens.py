"""Signed, expiring, single-use links: HS256 JWTs bound to the state they may change.

Flask-free: the secret and the current time are passed in. A token names a subject, a purpose
and a fingerprint of the subject's state (for a password reset: the password hash), so a token
stops working as soon as that state changes; only HS256 is ever accepted.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from mailroom.domain.errors import TokenExpired, TokenInvalid

ALGORITHM = "HS256"
# A real token is about 250 characters; anything far longer is refused before decoding.
MAX_TOKEN_LENGTH = 1024
REQUIRED_CLAIMS = ("sub", "purpose", "bind", "iat", "exp")
_SIGNING_LABEL = b"mailroom/token/signing"
_BINDING_LABEL = b"mailroom/token/binding"


@dataclass(frozen=True)
class TokenClaims:
    """What a genuine, unexpired token says."""

    subject: int
    purpose: str
    binding: str
    issued_at: datetime
    expires_at: datetime


def _derive(secret: bytes, label: bytes) -> bytes:
    """A 32-byte key of its own for one use of the application secret."""
    return hmac.new(secret, label, hashlib.sha256).digest()


def fingerprint(secret: bytes, state: str) -> str:
    """A keyed, short digest of ``state``: reveals nothing about it, changes whenever it does."""
    digest = hmac.new(_derive(secret, _BINDING_LABEL), state.encode("utf-8"), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()[:18]).decode("ascii")


def issue(*, subject: int, purpose: str, state: str, secret: bytes, now: datetime,
          ttl_seconds: int) -> str:
    """A token for ``subject`` and ``purpose``, bound to ``state``, valid for ``ttl_seconds``."""
    issued = int(now.timestamp())
    claims = {"sub": str(subject), "purpose": purpose, "bind": fingerprint(secret, state),
              "iat": issued, "exp": issued + ttl_seconds}
    return jwt.encode(claims, _derive(secret, _SIGNING_LABEL), algorithm=ALGORITHM)


def _decode(token: str, secret: bytes) -> dict[str, Any]:
    """The payload of a token signed with our key by HS256, else TokenInvalid."""
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise TokenInvalid("malformed token")
    try:
        payload = jwt.decode(
            token, _derive(secret, _SIGNING_LABEL), algorithms=[ALGORITHM],
            options={"require": list(REQUIRED_CLAIMS), "verify_exp": False, "verify_iat": False,
                     "verify_nbf": False, "verify_aud": False, "verify_iss": False},
        )
    except jwt.PyJWTError:
        raise TokenInvalid("token not signed by us with HS256") from None
    return dict(payload)


def _claims(payload: dict[str, Any]) -> TokenClaims:
    """Typed claims, refusing a payload whose claims have the wrong types."""
    subject, purpose, binding = payload["sub"], payload["purpose"], payload["bind"]
    issued, expires = payload["iat"], payload["exp"]
    if not (isinstance(subject, str) and subject.isdigit() and subject.isascii()):
        raise TokenInvalid("bad subject")
    if not (isinstance(purpose, str) and isinstance(binding, str)):
        raise TokenInvalid("bad purpose or binding")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (issued, expires)):
        raise TokenInvalid("bad times")
    try:
        times = datetime.fromtimestamp(issued, UTC), datetime.fromtimestamp(expires, UTC)
    except (OverflowError, OSError, ValueError):
        raise TokenInvalid("times out of range") from None
    return TokenClaims(subject=int(subject), purpose=purpose, binding=binding,
                       issued_at=times[0], expires_at=times[1])


def read(token: str, *, purpose: str, secret: bytes, now: datetime) -> TokenClaims:
    """The claims of a genuine token for ``purpose`` that has not expired at ``now``.

    Raises TokenInvalid (forged, foreign, malformed, other purpose) or TokenExpired.
    """
    claims = _claims(_decode(token, secret))
    if claims.purpose != purpose:
        raise TokenInvalid("token for another purpose")
    if now >= claims.expires_at:
        raise TokenExpired("token expired")
    return claims


def check_binding(claims: TokenClaims, *, state: str, secret: bytes) -> None:
    """Raise TokenInvalid unless the token was issued for exactly this state."""
    if not hmac.compare_digest(claims.binding.encode("ascii", "replace"),
                               fingerprint(secret, state).encode("ascii")):
        raise TokenInvalid("the state the token was bound to has changed")
