"""Both code stores, one suite: real Redis and the database (SQLite and PostgreSQL) behave alike."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask_mailroom.clock import FrozenClock
from sqlalchemy import select

from mailroom.domain.codes import CodeMalformed, LockedOut
from mailroom.domain.errors import CodeError, CodeExhausted, CodeExpired, CodeMismatch, CooldownActive
from mailroom.extensions import db
from mailroom.models import User, VerificationCode
from mailroom.services import codes
from mailroom.services.codes import DatabaseCodeStore, RedisCodeStore

PURPOSE = codes.EMAIL_CHANGE
ADDRESS = "new@example.com"
WRONG = "ZZZZZZ"

pytestmark = pytest.mark.parametrize(
    ("store_kind", "db_backend"),
    [("redis", "sqlite"), ("database", "sqlite"), ("database", "postgresql")],
    indirect=["db_backend"], ids=["redis", "database-sqlite", "database-postgresql"],
)


@pytest.fixture
def app_config(store_kind: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """Point the app at the real Redis for the Redis store; the database store is the default."""
    if store_kind == "redis":
        return dict(request.getfixturevalue("redis_url"))
    return {}


@pytest.fixture
def user_id(make_user: Callable[..., User]) -> int:
    """The id of an account to keep codes for."""
    return make_user().id


def issue(app: Flask, user_id: int, email: str = ADDRESS) -> codes.IssuedCode:
    """Issue a code in a request-like transaction of its own."""
    with app.app_context():
        issued = codes.issue_code(PURPOSE, user_id, email)
        db.session.commit()
        return issued


def redeem(app: Flask, user_id: int, code: str) -> str | CodeError:
    """Redeem in a transaction of its own: the address, or the error it raised."""
    with app.app_context():
        try:
            address = codes.redeem_recorded(PURPOSE, user_id, code)
        except CodeError as error:
            return error
        db.session.commit()
        return address


def wrong_code(code: str) -> str:
    """A well-formed code that is not ``code``."""
    return WRONG if code != WRONG else "YYYYYY"


def stored_lifetime(app: Flask, store_kind: str, user_id: int, redis_client: Any) -> float:
    """Seconds the store will keep the record: Redis's TTL, or the row's expiry."""
    with app.app_context():
        store = codes.store()
        if store_kind == "redis":
            assert isinstance(store, RedisCodeStore)
            return float(redis_client.ttl(store.key(PURPOSE, user_id)))
        row = db.session.get(VerificationCode, (PURPOSE, user_id))
        assert row is not None
        assert row.expires_at is not None
        return (row.expires_at - app.extensions["mailroom"].clock.now()).total_seconds()


def stored_text(app: Flask, store_kind: str, user_id: int, redis_client: Any) -> list[str]:
    """Every key and value the store holds for this test (Redis), or every column of the row."""
    with app.app_context():
        if store_kind == "redis":
            prefix = app.config["REDIS_KEY_PREFIX"]
            texts: list[str] = []
            for key in redis_client.scan_iter(match=f"{prefix}*"):
                texts.append(key.decode())
                if redis_client.type(key) == b"hash":
                    for field, value in redis_client.hgetall(key).items():
                        texts += [field.decode(), value.decode()]
                else:
                    texts.append(repr(redis_client.dump(key)))
            return texts
        row = db.session.scalars(select(VerificationCode)).one()
        return [str(getattr(row, column.key)) for column in VerificationCode.__table__.columns]


@pytest.fixture
def redis_client(store_kind: str, request: pytest.FixtureRequest) -> Any:
    """The Redis client for the Redis store, else None."""
    return request.getfixturevalue("redis") if store_kind == "redis" else None


def test_the_configured_store_is_used_and_kept(app: Flask, store_kind: str) -> None:
    with app.app_context():
        store = codes.store()
        assert codes.store() is store
        expected = RedisCodeStore if store_kind == "redis" else DatabaseCodeStore
        assert isinstance(store, expected)


def test_right_code_works_once(app: Flask, user_id: int) -> None:
    issued = issue(app, user_id)
    assert (issued.resend_after, issued.expires_in) == (60, 600)
    assert redeem(app, user_id, issued.code.lower()) == ADDRESS
    assert isinstance(redeem(app, user_id, issued.code), CodeExpired)


def test_lifetime_is_present_and_bounded(app: Flask, user_id: int, store_kind: str,
                                         redis_client: Any, clock: FrozenClock) -> None:
    issue(app, user_id)
    assert 590 <= stored_lifetime(app, store_kind, user_id, redis_client) <= 600
    clock.advance(30)
    redeem(app, user_id, WRONG)
    assert 0 < stored_lifetime(app, store_kind, user_id, redis_client) <= 600


def test_the_raw_code_is_stored_nowhere(app: Flask, user_id: int, store_kind: str,
                                        redis_client: Any) -> None:
    issued = issue(app, user_id)
    texts = stored_text(app, store_kind, user_id, redis_client)
    assert any(ADDRESS in text for text in texts)
    assert len(texts) >= 3
    assert not [text for text in texts if issued.code.lower() in text.lower()]


def test_wrong_tries_up_to_the_limit_then_void_even_for_the_right_code(app: Flask,
                                                                       user_id: int) -> None:
    issued = issue(app, user_id)
    lefts = []
    for _ in range(5):
        result = redeem(app, user_id, wrong_code(issued.code))
        assert isinstance(result, CodeMismatch)
        lefts.append(result.attempts_left)
    assert lefts == [4, 3, 2, 1, 0]
    assert isinstance(redeem(app, user_id, issued.code), CodeExhausted)
    with app.app_context(), pytest.raises(LockedOut):
        codes.check_resend(PURPOSE, user_id)


def test_malformed_input_spends_no_attempt(app: Flask, user_id: int) -> None:
    issued = issue(app, user_id)
    for _ in range(6):
        assert isinstance(redeem(app, user_id, "not a code"), CodeMalformed)
    assert redeem(app, user_id, issued.code) == ADDRESS


def test_resend_only_after_the_cooldown(app: Flask, user_id: int, clock: FrozenClock) -> None:
    issue(app, user_id)
    clock.advance(45)
    with pytest.raises(CooldownActive) as waiting:
        issue(app, user_id)
    assert waiting.value.retry_after == 15
    clock.advance(15)
    second = issue(app, user_id, "other@example.com")
    assert redeem(app, user_id, second.code) == "other@example.com"


def test_a_new_code_keeps_the_failure_count(app: Flask, user_id: int, clock: FrozenClock) -> None:
    first = issue(app, user_id)
    for _ in range(3):
        redeem(app, user_id, wrong_code(first.code))
    clock.advance(60)
    second = issue(app, user_id)
    result = redeem(app, user_id, wrong_code(second.code))
    assert isinstance(result, CodeMismatch)
    assert result.attempts_left == 1
    redeem(app, user_id, wrong_code(second.code))
    assert isinstance(redeem(app, user_id, second.code), CodeExhausted)


def test_expiry_follows_the_frozen_clock(app: Flask, user_id: int, clock: FrozenClock) -> None:
    issued = issue(app, user_id)
    clock.advance(599)
    assert redeem(app, user_id, issued.code) == ADDRESS
    clock.advance(60)
    late = issue(app, user_id)
    clock.advance(timedelta(seconds=600).total_seconds())
    assert isinstance(redeem(app, user_id, late.code), CodeExpired)


def test_failures_are_forgotten_after_their_window(app: Flask, user_id: int,
                                                   clock: FrozenClock) -> None:
    issued = issue(app, user_id)
    for _ in range(5):
        redeem(app, user_id, wrong_code(issued.code))
    clock.advance(599)
    with app.app_context(), pytest.raises(LockedOut):
        codes.check_resend(PURPOSE, user_id)
    clock.advance(1)
    fresh = issue(app, user_id)
    assert redeem(app, user_id, fresh.code) == ADDRESS


def race(app: Flask, user_id: int, code: str, threads: int = 2) -> list[str | CodeError]:
    """Redeem the same code from several threads released at the same instant."""
    barrier = threading.Barrier(threads)
    results: list[str | CodeError] = []
    lock = threading.Lock()

    def run() -> None:
        """One contender, in its own app context, session and connection."""
        barrier.wait(timeout=10)
        outcome = redeem(app, user_id, code)
        with lock:
            results.append(outcome)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert not any(worker.is_alive() for worker in workers)
    return results


def test_two_simultaneous_right_codes_exactly_one_succeeds(app: Flask, user_id: int,
                                                           clock: FrozenClock) -> None:
    for _ in range(3):
        issued = issue(app, user_id)
        results = race(app, user_id, issued.code)
        assert [r for r in results if r == ADDRESS] == [ADDRESS]
        assert len([r for r in results if isinstance(r, CodeExpired)]) == 1
        clock.advance(60)


def test_simultaneous_wrong_codes_are_all_counted(app: Flask, user_id: int) -> None:
    issued = issue(app, user_id)
    results = race(app, user_id, wrong_code(issued.code), threads=4)
    lefts = sorted(r.attempts_left for r in results if isinstance(r, CodeMismatch))
    assert lefts == [1, 2, 3, 4]
    result = redeem(app, user_id, wrong_code(issued.code))
    assert isinstance(result, CodeMismatch)
    assert result.attempts_left == 0


def test_codes_are_per_purpose_and_per_user(app: Flask, user_id: int,
                                            make_user: Callable[..., User]) -> None:
    other = make_user("bob", "bob@example.com").id
    mine = issue(app, user_id)
    with app.app_context():
        theirs = codes.issue_code(codes.CONFIRM_EMAIL, other, "bob@example.com")
        db.session.commit()
    assert isinstance(redeem(app, other, mine.code), CodeExpired)
    assert isinstance(redeem(app, user_id, theirs.code), CodeMismatch)
    assert redeem(app, user_id, mine.code) == ADDRESS
    with app.app_context():
        codes.discard(codes.CONFIRM_EMAIL, other)
        db.session.commit()
        assert codes.pending(codes.CONFIRM_EMAIL, other) is None
