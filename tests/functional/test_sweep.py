"""Sweeping expired sessions and reset handoffs: ``flask users sweep``, and each web process on its own.

Sessions past their idle limit (SESSION_IDLE_TIMEOUT, or REMEMBER_COOKIE_DURATION with "remember
me") and handoffs past their expiry are refused when read; the sweep deletes their rows. A web
process sweeps before a request once SWEEP_INTERVAL seconds (by the application's clock) have
passed since its last sweep; 0 leaves it to cron.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask_mailroom.clock import FrozenClock
from sqlalchemy import select

from mailroom.extensions import db
from mailroom.models import ResetHandoff, User, UserSession
from mailroom.services import sessions
from tests.conftest import csrf_token

DAY = 24 * 3600
IDLE, REMEMBERED = 14 * DAY, 30 * DAY  # SESSION_IDLE_TIMEOUT and REMEMBER_COOKIE_DURATION's defaults
NO_WEB_SWEEPS = {"SWEEP_INTERVAL": 0}


def signed_in(app: Flask, remember: bool) -> None:
    """A browser signs alice in through the form."""
    browser = app.test_client()
    data = {"identifier": "alice", "password": "correct horse battery",
            "csrf_token": csrf_token(browser, "/auth/login")}
    if remember:
        data["remember"] = "y"
    assert browser.post("/auth/login", data=data).status_code == 302


def sessions_left(app: Flask) -> list[bool]:
    """The remember flag of every stored session, checked to be alive by the rule that reads them."""
    with app.app_context():
        rows = list(db.session.scalars(select(UserSession).order_by(UserSession.id)))
        assert all(sessions.is_alive(row) for row in rows)
        return [row.remember for row in rows]


def sweep_command(app: Flask) -> str:
    """Run ``flask users sweep``; its output."""
    result = app.test_cli_runner().invoke(args=["users", "sweep"])
    assert result.exit_code == 0, result.output
    return str(result.output).strip()


def lapsed_rows(app: Flask, user: User) -> None:
    """Store a session idle past its limit and a handoff past its expiry, as time leaves them."""
    with app.app_context():
        moment = app.extensions["mailroom"].clock.now()
        db.session.add(UserSession(user_id=user.id, token_hash=secrets.token_hex(32), remember=False,
                                   created_at=moment - timedelta(seconds=IDLE + 5),
                                   last_seen_at=moment - timedelta(seconds=IDLE)))
        db.session.add(ResetHandoff(handle_hash=secrets.token_hex(32), token="x.y.z", expires_at=moment))
        db.session.commit()


def counts(app: Flask) -> tuple[int, int]:
    """How many sessions and handoffs are stored."""
    with app.app_context():
        return (len(list(db.session.scalars(select(UserSession)))),
                len(list(db.session.scalars(select(ResetHandoff)))))


@pytest.mark.parametrize("app_config", [NO_WEB_SWEEPS])
def test_the_command_deletes_each_session_when_its_own_limit_passes(
        app: Flask, clock: FrozenClock, make_user: Callable[..., User]) -> None:
    make_user()
    signed_in(app, remember=False)
    signed_in(app, remember=True)
    clock.advance(IDLE - 1)
    assert sweep_command(app) == "deleted 0 expired sessions and 0 expired reset handoffs"
    assert sessions_left(app) == [False, True]
    clock.advance(1)
    assert sweep_command(app) == "deleted 1 expired sessions and 0 expired reset handoffs"
    assert sessions_left(app) == [True]
    signed_in(app, remember=True)
    clock.advance(REMEMBERED - IDLE)
    assert sweep_command(app) == "deleted 1 expired sessions and 0 expired reset handoffs"
    assert sessions_left(app) == [True]


@pytest.mark.parametrize("app_config", [{"SWEEP_INTERVAL": 600}])
def test_a_web_process_sweeps_once_per_interval_on_its_own(
        app: Flask, clock: FrozenClock, make_user: Callable[..., User]) -> None:
    alice = make_user()
    visitor = app.test_client()
    assert visitor.get("/auth/login").status_code == 200
    lapsed_rows(app, alice)
    clock.advance(599)
    assert visitor.get("/auth/login").status_code == 200
    assert counts(app) == (1, 1)
    clock.advance(1)
    assert visitor.get("/auth/login").status_code == 200
    assert counts(app) == (0, 0)


@pytest.mark.parametrize("app_config", [NO_WEB_SWEEPS])
def test_a_zero_interval_leaves_the_sweep_to_cron(app: Flask, clock: FrozenClock,
                                                  make_user: Callable[..., User]) -> None:
    alice = make_user()
    lapsed_rows(app, alice)
    for _ in range(3):
        clock.advance(3600)
        assert app.test_client().get("/auth/login").status_code == 200
    assert counts(app) == (1, 1)
    assert sweep_command(app) == "deleted 1 expired sessions and 1 expired reset handoffs"
    assert counts(app) == (0, 0)
