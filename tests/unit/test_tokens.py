"""Reset tokens: HS256 only, our key only, expiry by the injected clock, bound to a state."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning

from mailroom.domain import tokens
from mailroom.domain.errors import TokenExpired, TokenInvalid

SECRET = b"unit-test-secret-" + b"s" * 32
OTHER_SECRET = b"another-secret-entirely-" + b"o" * 32
NOW = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
TTL = 600
STATE = "scrypt:32768:8:1$salt$hash\nalice@example.com"


def issue(**overrides: Any) -> str:
    """A token with the defaults of these tests, changed where asked."""
    arguments: dict[str, Any] = {"subject": 7, "purpose": "reset_password", "state": STATE,
                                 "secret": SECRET, "now": NOW, "ttl_seconds": TTL}
    arguments.update(overrides)
    return tokens.issue(**arguments)


def read(token: str, *, at: datetime = NOW, purpose: str = "reset_password",
         secret: bytes = SECRET) -> tokens.TokenClaims:
    """Read a token as the reset flow does."""
    return tokens.read(token, purpose=purpose, secret=secret, now=at)


def b64(data: bytes) -> str:
    """Unpadded base64url, as JWTs use."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signing_key(secret: bytes) -> bytes:
    """The key the module signs with, derived here independently from its definition."""
    return hmac.new(secret, b"mailroom/token/signing", hashlib.sha256).digest()


def payload_of(token: str) -> dict[str, Any]:
    """The claims of a token, unverified."""
    return dict(jwt.decode(token, options={"verify_signature": False}))


def test_a_fresh_token_reads_back_its_claims() -> None:
    claims = read(issue())
    assert claims.subject == 7
    assert claims.purpose == "reset_password"
    assert claims.issued_at == NOW
    assert claims.expires_at == NOW + timedelta(seconds=TTL)
    tokens.check_binding(claims, state=STATE, secret=SECRET)


def test_the_header_says_hs256_and_the_payload_holds_no_state_in_clear() -> None:
    token = issue()
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    payload = payload_of(token)
    assert set(payload) == {"sub", "purpose", "bind", "iat", "exp"}
    assert "alice" not in token
    assert "scrypt" not in json.dumps(payload)


@pytest.mark.parametrize("seconds", [0, 1, TTL - 1])
def test_valid_until_just_before_the_ttl(seconds: int) -> None:
    assert read(issue(), at=NOW + timedelta(seconds=seconds)).subject == 7


@pytest.mark.parametrize("seconds", [TTL, TTL + 1, 10 * TTL])
def test_expired_from_the_ttl_on(seconds: int) -> None:
    with pytest.raises(TokenExpired):
        read(issue(), at=NOW + timedelta(seconds=seconds))


def test_expiry_follows_the_injected_clock_not_the_wall_clock() -> None:
    long_ago = datetime(2001, 1, 1, tzinfo=UTC)
    token = issue(now=long_ago)
    assert read(token, at=long_ago + timedelta(seconds=5)).subject == 7
    with pytest.raises(TokenExpired):
        read(token, at=long_ago + timedelta(seconds=TTL))


def test_a_changed_state_voids_the_token() -> None:
    claims = read(issue())
    with pytest.raises(TokenInvalid):
        tokens.check_binding(claims, state=STATE.replace("hash", "hasi"), secret=SECRET)
    with pytest.raises(TokenInvalid):
        tokens.check_binding(claims, state=STATE, secret=OTHER_SECRET)


def test_the_fingerprint_is_keyed_and_deterministic() -> None:
    assert tokens.fingerprint(SECRET, STATE) == tokens.fingerprint(SECRET, STATE)
    assert tokens.fingerprint(SECRET, STATE) != tokens.fingerprint(OTHER_SECRET, STATE)
    assert tokens.fingerprint(SECRET, STATE) != tokens.fingerprint(SECRET, STATE + "x")


def test_another_purpose_is_invalid_even_when_genuine() -> None:
    with pytest.raises(TokenInvalid):
        read(issue(purpose="confirm_email"))


def test_a_token_signed_with_another_key_is_invalid() -> None:
    with pytest.raises(TokenInvalid):
        read(issue(secret=OTHER_SECRET))


def test_a_token_signed_with_the_raw_secret_instead_of_the_derived_key_is_invalid() -> None:
    claims = payload_of(issue())
    with pytest.raises(TokenInvalid):
        read(jwt.encode(claims, SECRET, algorithm="HS256"))


def test_alg_none_is_invalid() -> None:
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = b64(json.dumps(payload_of(issue())).encode())
    for token in (f"{header}.{body}.", f"{header}.{body}.{issue().split('.')[2]}"):
        with pytest.raises(TokenInvalid):
            read(token)


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_other_algorithms_with_the_right_key_are_invalid(algorithm: str) -> None:
    with warnings.catch_warnings():
        # PyJWT warns that a 32-byte key is short for these algorithms; the point is the algorithm.
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        token = jwt.encode(payload_of(issue()), signing_key(SECRET), algorithm=algorithm)
    with pytest.raises(TokenInvalid):
        read(token)


def test_the_right_key_and_hs256_are_what_make_a_token_valid() -> None:
    # The control for the two tests above: the same claims, re-signed the way the module does.
    token = jwt.encode(payload_of(issue()), signing_key(SECRET), algorithm="HS256")
    assert read(token).subject == 7


def test_a_tampered_payload_is_invalid() -> None:
    header, _, signature = issue().split(".")
    claims = payload_of(issue())
    claims["sub"] = "8"
    with pytest.raises(TokenInvalid):
        read(f"{header}.{b64(json.dumps(claims).encode())}.{signature}")


def test_a_tampered_signature_is_invalid() -> None:
    token = issue()
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(TokenInvalid):
        read(flipped)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "....", "é.é.é", "x" * 2000,
                                   "eyJhbGciOiJIUzI1NiJ9.e30.", "\x00.\x00.\x00"])
def test_malformed_tokens_are_invalid(token: str) -> None:
    with pytest.raises(TokenInvalid):
        read(token)


@pytest.mark.parametrize(("claim", "value"), [
    ("sub", None), ("sub", "alice"), ("sub", "-1"), ("purpose", None), ("purpose", 3),
    ("bind", None), ("bind", 5), ("exp", None), ("exp", "soon"), ("exp", True), ("iat", None),
    ("exp", 10**20),
])
def test_missing_or_mistyped_claims_are_invalid(claim: str, value: object) -> None:
    claims = payload_of(issue())
    if value is None:
        del claims[claim]
    else:
        claims[claim] = value
    token = jwt.encode(claims, signing_key(SECRET), algorithm="HS256")
    with pytest.raises(TokenInvalid):
        read(token)


def test_errors_never_carry_the_token() -> None:
    token = issue(secret=OTHER_SECRET)
    with pytest.raises(TokenInvalid) as caught:
        read(token)
    assert token not in str(caught.value)
    assert caught.value.__cause__ is None
