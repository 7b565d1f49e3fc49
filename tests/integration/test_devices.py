"""The device-cookie rules of services.devices against both databases: which cookie proves which
account, and every way a browser becomes a stranger again (tampering, another account, forgetting,
a year unused, a new password, a reset, signing out everywhere else)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flask import Flask, Response
from flask_mailroom.clock import FrozenClock

from mailroom.extensions import db
from mailroom.models import User
from mailroom.services import accounts, devices, reset, sessions

PASSWORD = "correct horse battery"
NEW = "a brand new passphrase"
AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@contextmanager
def request_with(app: Flask, cookie: str = "") -> Iterator[None]:
    """A request presenting ``cookie`` as its device cookie."""
    headers = {"Cookie": f"{devices.COOKIE}={cookie}"} if cookie else {}
    with app.test_request_context("/", headers=headers):
        yield


def trust(app: Flask, user_id: int, cookie: str = "") -> str:
    """Trust a browser presenting ``cookie`` for the account; the cookie it is given."""
    with request_with(app, cookie):
        user = db.session.get(User, user_id)
        assert user is not None
        response = Response()
        devices.trust_browser(user, response, AGENT, "192.0.2.1")
        db.session.commit()
        header = response.headers["Set-Cookie"]
    return header.split(";", 1)[0].split("=", 1)[1]


def known(app: Flask, user_id: int, cookie: str) -> bool:
    """Whether a request presenting ``cookie`` comes from a browser the account trusts (its use noted)."""
    with request_with(app, cookie):
        user = db.session.get(User, user_id)
        assert user is not None
        found = devices.trusted_device(user) is not None
        db.session.commit()
        return found


def test_only_the_untouched_token_proves_only_its_account(
        app: Flask, make_user: Callable[..., User]) -> None:
    alice, bob = make_user(), make_user("bob", "bob@example.com")
    cookie = trust(app, alice.id)
    assert known(app, alice.id, cookie)
    assert not known(app, bob.id, cookie), "another account's token"
    number, secret = cookie.split(".")
    flipped = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for forged in (f"{number}.{flipped}", f"{int(number) + 1}.{secret}", f"{number}.{secret[:-1]}",
                   secret, "", "~~~", f"{number}.{secret}" + "~x" * 600):
        assert not known(app, alice.id, forged), forged


def test_a_token_among_others_counts_and_the_use_is_noted(
        app: Flask, clock: FrozenClock, make_user: Callable[..., User]) -> None:
    alice, bob = make_user(), make_user("bob", "bob@example.com")
    both = trust(app, bob.id, trust(app, alice.id))
    assert len(both.split("~")) == 2
    clock.advance(3600)
    assert known(app, alice.id, both)
    assert known(app, bob.id, both)
    with app.app_context():
        [device] = devices.devices_of(db.session.get(User, alice.id))
        assert device.last_used_at == clock.now()


def test_a_forgotten_or_year_old_browser_is_a_stranger(
        app: Flask, clock: FrozenClock, make_user: Callable[..., User]) -> None:
    alice = make_user()
    first, second = trust(app, alice.id), trust(app, alice.id)
    with app.app_context():
        user = db.session.get(User, alice.id)
        assert user is not None
        assert devices.forget(user, int(first.split(".")[0]))
        assert not devices.forget(user, int(first.split(".")[0]))
    assert not known(app, alice.id, first)
    assert known(app, alice.id, second)
    clock.advance(366 * 86400)
    assert not known(app, alice.id, second)
    with app.app_context():
        assert devices.devices_of(db.session.get(User, alice.id)) == []


def test_a_new_password_a_reset_and_signing_out_everywhere_else_forget_every_browser(
        app: Flask, make_user: Callable[..., User]) -> None:
    alice, bob = make_user(), make_user("bob", "bob@example.com")
    bobs = trust(app, bob.id)

    cookie = trust(app, alice.id)
    with request_with(app, cookie):
        user = db.session.get(User, alice.id)
        assert user is not None
        accounts.change_password(user, PASSWORD, NEW)
    assert not known(app, alice.id, cookie)

    cookie = trust(app, alice.id)
    with app.app_context():
        user = db.session.get(User, alice.id)
        assert user is not None
        reset.reset_password(reset.issue_link_token(user), PASSWORD, "192.0.2.9")
    assert not known(app, alice.id, cookie)

    cookie = trust(app, alice.id)
    with app.app_context():
        user = db.session.get(User, alice.id)
        assert user is not None
        sessions.end_others(user)
    assert not known(app, alice.id, cookie)
    assert known(app, bob.id, bobs), "another account's browsers stay trusted"


def test_a_failed_password_change_keeps_the_browsers(app: Flask, make_user: Callable[..., User]) -> None:
    alice = make_user()
    cookie = trust(app, alice.id)
    with app.app_context():
        user = db.session.get(User, alice.id)
        assert user is not None
        try:
            accounts.change_password(user, "not the password", NEW)
        except accounts.AccountError:
            db.session.rollback()
    assert known(app, alice.id, cookie)
