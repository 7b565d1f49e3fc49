"""What only the Redis store has: its key layout, TTLs on every key, and an unreachable server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask_mailroom.clock import FrozenClock

from mailroom.extensions import db
from mailroom.models import User
from mailroom.services import codes
from mailroom.services.codes import CodeStoreUnavailable, RedisCodeStore
from tests.support.services import free_port

pytestmark = pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)


@pytest.fixture
def app_config(redis_url: dict[str, Any]) -> dict[str, Any]:
    """The app on the real Redis."""
    return dict(redis_url)


def test_one_key_per_purpose_and_user_each_with_a_ttl(app: Flask, redis: Any,
                                                      make_user: Callable[..., User]) -> None:
    user = make_user()
    prefix = app.config["REDIS_KEY_PREFIX"]
    with app.app_context():
        codes.issue_code(codes.EMAIL_CHANGE, user.id, "new@example.com")
        codes.issue_code(codes.CONFIRM_EMAIL, user.id, "alice@example.com")
    keys = sorted(key.decode() for key in redis.scan_iter(match=f"{prefix}code:*"))
    assert keys == [f"{prefix}code:confirm_email:{user.id}", f"{prefix}code:email_change:{user.id}"]
    assert all(0 < redis.pttl(key) <= 600_000 for key in keys)


def test_a_used_code_leaves_only_the_cooldown_then_nothing(app: Flask, redis: Any, clock: FrozenClock,
                                                           make_user: Callable[..., User]) -> None:
    user = make_user()
    with app.app_context():
        store = codes.store()
        assert isinstance(store, RedisCodeStore)
        key = store.key(codes.EMAIL_CHANGE, user.id)
        issued = codes.issue_code(codes.EMAIL_CHANGE, user.id, "new@example.com")
        clock.advance(10)
        codes.redeem_code(codes.EMAIL_CHANGE, user.id, issued.code)
        assert set(redis.hgetall(key)) == {b"r", b"f", b"v"}
        assert 0 < redis.pttl(key) <= 50_000
        clock.advance(60)
        codes.discard(codes.EMAIL_CHANGE, user.id)
        assert redis.exists(key) == 0


def test_an_unreachable_redis_is_a_clear_error_not_a_hang(app: Flask,
                                                         make_user: Callable[..., User]) -> None:
    user = make_user()
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    with app.app_context():
        with pytest.raises(CodeStoreUnavailable):
            codes.issue_code(codes.EMAIL_CHANGE, user.id, "new@example.com")
        with pytest.raises(CodeStoreUnavailable):
            codes.redeem_code(codes.EMAIL_CHANGE, user.id, "ABCDEF")
        with pytest.raises(CodeStoreUnavailable):
            codes.pending(codes.EMAIL_CHANGE, user.id)
        db.session.rollback()
