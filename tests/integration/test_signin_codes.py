"""The rules of sign-in codes on both code stores (real Redis, the database on SQLite and PostgreSQL):
expiry, tries, single use, binding to the browser that asked, the same answers for an address
without an account, and a request that does the same work whatever the address."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from flask_mail import Message
from flask_mailroom import Skip
from flask_mailroom.clock import FrozenClock
from sqlalchemy import event, select
from werkzeug.wrappers import Response

from mailroom.domain.codes import CodeMalformed
from mailroom.domain.errors import CodeError, CodeExhausted, CodeExpired, CodeMismatch
from mailroom.extensions import db
from mailroom.models import OutboxMessage, User, UserSession, VerificationCode
from mailroom.services import accounts, codes, signin_codes
from mailroom.services.signin_codes import CodeRequest
from tests.support.outbox import code_in

ALICE = "alice@example.com"
NOBODY = "nobody@example.com"
CLIENT = "198.51.100.7"
AGENT = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"

pytestmark = pytest.mark.parametrize(
    ("store_kind", "db_backend"),
    [("redis", "sqlite"), ("database", "sqlite"), ("database", "postgresql")],
    indirect=["db_backend"], ids=["redis", "database-sqlite", "database-postgresql"],
)


@pytest.fixture
def app_config(store_kind: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The Redis store on the real Redis, or the database store."""
    return dict(request.getfixturevalue("redis_url")) if store_kind == "redis" else {}


@pytest.fixture
def alice(make_user: Callable[..., User]) -> User:
    """An account that signs in by code (the default)."""
    return make_user()


def ask(app: Flask, address: str) -> CodeRequest:
    """A browser asks for a code, as the request form does (no code is made yet)."""
    with app.test_request_context("/auth/login/email", method="POST"):
        return signin_codes.request_code(address, CLIENT)


def build(app: Flask, pending: CodeRequest) -> str | None:
    """The worker builds the queued email: the code it carries, or None when it skipped."""
    with app.app_context():
        params = {"binding": signin_codes.binding(pending.handle)}
        built = signin_codes.build_code_email(pending.email, params)
        db.session.commit()
        if isinstance(built, Skip):
            return None
        assert isinstance(built, Message)
        return code_in(built.body or "")


def type_code(app: Flask, pending: CodeRequest, code: str) -> int | CodeError:
    """Type a code in the asking browser: the signed-in account's id, or the refusal."""
    with app.test_request_context("/auth/login/code", method="POST"):
        try:
            user = signin_codes.sign_in_with_code(pending, code, AGENT, CLIENT, False, Response())
        except CodeError as error:
            return error
        return user.id


def wrong(code: str) -> str:
    """A well-formed code that is not ``code``."""
    return "ZZZZZZ" if code != "ZZZZZZ" else "YYYYYY"


def sessions_of(app: Flask, user_id: int) -> int:
    """How many sessions the account has."""
    with app.app_context():
        return len(list(db.session.scalars(select(UserSession).where(UserSession.user_id == user_id))))


def test_the_right_code_opens_one_session_once(app: Flask, alice: User) -> None:
    pending = ask(app, ALICE)
    code = build(app, pending)
    assert code is not None
    assert type_code(app, pending, code.lower()) == alice.id
    assert sessions_of(app, alice.id) == 1
    used = type_code(app, pending, code)
    assert isinstance(used, CodeMismatch), "a used code is answered as any wrong code"
    assert sessions_of(app, alice.id) == 1


def test_a_code_expires_with_its_lifetime(app: Flask, alice: User, clock: FrozenClock) -> None:
    pending = ask(app, ALICE)
    code = build(app, pending)
    assert code is not None
    clock.advance(app.config["SIGNIN_CODE_TTL"] + 1)
    assert isinstance(type_code(app, pending, code), CodeExpired)
    assert sessions_of(app, alice.id) == 0


def test_three_wrong_tries_void_the_code(app: Flask, alice: User) -> None:
    pending = ask(app, ALICE)
    code = build(app, pending)
    assert code is not None
    answers = [type_code(app, pending, wrong(code)) for _ in range(3)]
    assert [getattr(a, "attempts_left", None) for a in answers] == [2, 1, 0]
    assert isinstance(type_code(app, pending, code), CodeExhausted)
    assert sessions_of(app, alice.id) == 0


def test_a_malformed_code_costs_no_try(app: Flask, alice: User) -> None:
    pending = ask(app, ALICE)
    code = build(app, pending)
    assert code is not None
    assert isinstance(type_code(app, pending, "O0I1L!"), CodeMalformed)
    assert type_code(app, pending, code) == alice.id


def test_the_code_works_only_in_the_browser_that_asked(app: Flask, alice: User) -> None:
    mine, theirs = ask(app, ALICE), ask(app, ALICE)
    code = build(app, mine)
    assert code is not None
    refused = type_code(app, theirs, code)
    assert isinstance(refused, CodeMismatch)
    assert refused.attempts_left == 2
    assert type_code(app, mine, code) == alice.id


def test_an_address_without_an_account_gets_the_answers_a_wrong_code_gets(app: Flask, alice: User) -> None:
    known, unknown = ask(app, ALICE), ask(app, NOBODY)
    code = build(app, known)
    assert code is not None
    assert build(app, unknown) is None, "no code is made for an address without an account"
    for pending in (known, unknown):
        answers = [type_code(app, pending, wrong(code)) for _ in range(4)]
        assert [type(a).__name__ for a in answers] == ["CodeMismatch"] * 3 + ["CodeExhausted"]
        assert [getattr(a, "attempts_left", None) for a in answers[:3]] == [2, 1, 0]


@pytest.mark.parametrize("change", ["signin_codes", "email_confirmed", "registration_handle"])
def test_no_code_for_an_account_that_cannot_sign_in_by_code(app: Flask, alice: User, change: str) -> None:
    with app.app_context():
        user = db.session.get(User, alice.id)
        assert user is not None
        setattr(user, change, "pending" if change == "registration_handle" else False)
        db.session.commit()
    pending = ask(app, ALICE)
    assert build(app, pending) is None
    answer = type_code(app, pending, "ABCDEF")
    assert isinstance(answer, CodeMismatch)
    assert answer.attempts_left == 2


def test_the_store_keeps_only_a_hash_bound_to_the_browser(app: Flask, alice: User, store_kind: str,
                                                          request: pytest.FixtureRequest) -> None:
    pending = ask(app, ALICE)
    code = build(app, pending)
    assert code is not None
    with app.app_context():
        binding = signin_codes.binding(pending.handle)
        purpose = f"{signin_codes.SIGN_IN}:{binding[:signin_codes.BINDING_KEPT]}"
        record = codes.store().load(purpose, alice.id)
        assert record is not None
        assert record.code_hash is not None
        assert code not in record.code_hash
        assert pending.handle not in purpose
        if store_kind == "redis":
            raw = request.getfixturevalue("redis").hgetall(codes.store().key(purpose, alice.id))
            assert code.encode() not in b"".join(raw.values())


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """The SQL statements the block runs on the app's engine."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        """Keep each statement's text."""
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_the_request_does_the_same_work_for_every_address(app: Flask, alice: User,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    ask(app, "warm-up@example.com")

    def no_look_up(*args: Any) -> None:
        raise AssertionError("the request looked an address up")

    monkeypatch.setattr(accounts, "find_by_email", no_look_up)
    monkeypatch.setattr(accounts, "find_account", no_look_up)
    with statements(app) as known:
        ask(app, ALICE)
    with statements(app) as unknown:
        ask(app, NOBODY)
    assert known == unknown, "the same statements, in the same order"
    with app.app_context():
        rows = list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    assert [(r.template, r.raw, r.meta["deferred"]) for r in rows[-2:]] == [
        ("signin_code", b"", "signin_code")] * 2
    assert [sorted(r.meta["params"]) for r in rows] == [["binding"]] * 3


def test_dead_codes_leave_the_store(app: Flask, alice: User, clock: FrozenClock, store_kind: str,
                                    request: pytest.FixtureRequest) -> None:
    used, lapsed = ask(app, ALICE), ask(app, ALICE)
    code = build(app, used)
    assert code is not None
    assert type_code(app, used, code) == alice.id
    assert build(app, lapsed) is not None
    clock.advance(app.config["SIGNIN_CODE_TTL"] + 1)
    fresh = ask(app, ALICE)
    assert build(app, fresh) is not None
    with app.app_context():
        if store_kind == "redis":
            prefix = app.config["REDIS_KEY_PREFIX"]
            client = request.getfixturevalue("redis")
            live = [k for k in client.scan_iter(match=f"{prefix}code:signin:*") if client.pttl(k) > 0]
            assert len(live) == 2, "the lapsed code's key lives on only until its TTL"
            return
        purposes = list(db.session.scalars(select(VerificationCode.purpose)
                                           .where(VerificationCode.user_id == alice.id)))
        assert purposes == [f"signin:{signin_codes.binding(fresh.handle)[:signin_codes.BINDING_KEPT]}"]
