"""The reset use cases against the real databases and Redis: transactions, locks, limit storage."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask_mailroom.engine.worker import Worker
from sqlalchemy import create_engine, func, select, text

from mailroom.domain.errors import TokenInvalid
from mailroom.extensions import db
from mailroom.models import User, UserSession
from mailroom.services import accounts, reset, sessions
from tests.support.accounts import stored_user as fresh
from tests.support.outbox import outbox as rows

NEW = "a brand new passphrase"
CLIENT = "198.51.100.4"


def test_a_request_does_the_same_work_for_any_address_and_the_worker_decides(
        app: Flask, make_user: Callable[..., User]) -> None:
    make_user()
    with app.app_context():
        reset.request_reset("nobody@example.com", CLIENT)
        assert not db.session().in_transaction()
        reset.request_reset("alice@example.com", CLIENT)
    queued = rows(app)
    # Neither row holds a message yet: no look-up, token or rendering happened in the request.
    assert [(r.template, r.recipients, r.status, r.raw) for r in queued] == [
        ("reset_password", ["nobody@example.com"], "queued", b""),
        ("reset_password", ["alice@example.com"], "queued", b"")]
    assert Worker(app).drain() == 2
    unknown, known = rows(app)
    assert (unknown.status, unknown.raw) == ("skipped", b"")
    assert known.status == "sent"
    # Delivered, the body that held the link has left the outbox; the skip says why (admin only).
    assert known.raw == b""
    assert unknown.last_error == "no account has this address"


def test_a_reset_changes_password_sessions_and_queues_the_notice_together(
        app: Flask, make_user: Callable[..., User]) -> None:
    alice = make_user()
    with app.app_context():
        sessions.open_session(db.session.get(User, alice.id), "Firefox", CLIENT, remember=True)
        db.session.commit()
        token = reset.issue_link_token(db.session.get(User, alice.id))
        reset.reset_password(token, NEW, CLIENT)
        assert not db.session().in_transaction()
        assert db.session.scalar(select(func.count()).select_from(UserSession)) == 0
    after = fresh(app, alice.id)
    assert after.password_hash != alice.password_hash
    assert after.password_changed_at is not None
    assert [row.template for row in rows(app)] == ["password_changed"]
    with app.app_context():
        assert accounts.authenticate("alice", NEW).id == alice.id


def test_a_refused_link_leaves_no_transaction_open(app: Flask, make_user: Callable[..., User]
                                                   ) -> None:
    alice = make_user()
    with app.app_context():
        token = reset.issue_link_token(db.session.get(User, alice.id))
        reset.reset_password(token, NEW, CLIENT)
        for attempt in (lambda: reset.check_link(token),
                        lambda: reset.reset_password(token, "other passphrase", CLIENT)):
            with pytest.raises(TokenInvalid):
                attempt()
            assert not db.session().in_transaction()
    assert [row.template for row in rows(app)] == ["password_changed"]


def waiting_on_locks(url: str) -> int:
    """How many sessions of this database wait for a lock."""
    engine = create_engine(url)
    with engine.connect() as conn:
        count = conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'")).scalar_one()
    engine.dispose()
    return int(count)


@pytest.mark.parametrize("db_backend", ["postgresql"], indirect=True)
def test_one_link_used_twice_at_once_sets_one_password(app: Flask, database_url: str,
                                                       make_user: Callable[..., User]) -> None:
    alice = make_user()
    with app.app_context():
        token = reset.issue_link_token(db.session.get(User, alice.id))
    outcomes: list[str] = []

    def use(password: str) -> None:
        """Post the link with one password, from a thread of its own."""
        with app.app_context():
            try:
                reset.reset_password(token, password, CLIENT)
                outcomes.append(password)
            except TokenInvalid:
                outcomes.append("refused")

    holder = create_engine(database_url)
    with holder.connect() as conn:
        # Hold the row so both attempts have read the token and wait at the same point.
        conn.execute(text("SELECT id FROM users WHERE id = :id FOR UPDATE"), {"id": alice.id})
        threads = [threading.Thread(target=use, args=(p,)) for p in ("first pass 123", "second pass 456")]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        while waiting_on_locks(database_url) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert waiting_on_locks(database_url) >= 2
        conn.commit()
    for thread in threads:
        thread.join(10)
    holder.dispose()
    assert len(outcomes) == 2
    assert outcomes.count("refused") == 1
    winner = next(o for o in outcomes if o != "refused")
    with app.app_context():
        assert accounts.authenticate("alice", winner).id == alice.id
    assert [row.template for row in rows(app)] == ["password_changed"]


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("app_config", [{"RATELIMIT_RESET_PER_ADDRESS": "2 per hour"}])
def test_request_limits_live_in_redis_under_the_key_prefix(
        app: Flask, redis: Any, redis_url: dict[str, Any],
        make_user: Callable[..., User]) -> None:
    # A fresh address: the email budget's Redis keys outlive the test.
    address = f"alice-{secrets.token_hex(4)}@example.com"
    make_user(email=address)
    with app.app_context():
        for _ in range(4):
            reset.request_reset(address, CLIENT)
    assert len(rows(app)) == 2
    prefix = redis_url["REDIS_KEY_PREFIX"]
    keys = [k.decode() for k in redis.scan_iter(match=f"*{prefix}*")]
    assert any("reset-request-address" in k and address in k for k in keys), keys
    assert any("reset-request-client" in k and CLIENT in k for k in keys), keys
