"""Password hashing with a current KDF, and a constant-cost miss for unknown accounts."""

from __future__ import annotations

from functools import cache

from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

MIN_LENGTH = 8
MAX_LENGTH = 1024


def hash_password(password: str) -> str:
    """Hash with the configured method (scrypt by default; tests may lower its cost)."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def verify_password(stored_hash: str, password: str) -> bool:
    """Check a password against its stored hash."""
    return check_password_hash(stored_hash, password)


@cache
def _dummy_hash(method: str) -> str:
    """A hash of nothing in particular, to spend the same time when no account matches."""
    return generate_password_hash("not a real password", method=method)


def burn_verification(password: str) -> None:
    """Spend the time of one verification, so a missing account is not told apart by timing."""
    check_password_hash(_dummy_hash(current_app.config["PASSWORD_HASH_METHOD"]), password)
