"""The web's health endpoints: /healthz/live and /healthz/ready answer anyone, in JSON, with no session,
no CSRF token and no rate limit, and say which check fails without saying why; a database that
cannot be reached makes the process unavailable, Redis only degraded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailroom import create_app
from mailroom.extensions import db
from tests.conftest import base_config
from tests.support.services import free_port

SECRETS = ("127.0.0.1", "postgres", "sqlite", "missing-folder", "redis://")


def unreachable(db_backend: str, tmp_path: Path) -> str:
    """A database URI of the same kind that cannot be opened."""
    if db_backend == "sqlite":
        return f"sqlite:///{tmp_path}/missing-folder/mailroom.sqlite3"
    return f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/mailroom"


def test_live_and_ready_answer_200_in_json_without_a_session(client: FlaskClient) -> None:
    live = client.get("/healthz/live")
    assert live.status_code == 200
    assert live.json == {"status": "ok", "checks": {}}
    ready = client.get("/healthz/ready")
    assert ready.status_code == 200
    assert ready.json == {"status": "ok", "checks": {"database": "ok"}}
    assert ready.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in ready.headers, "a probe gets no session"


@pytest.mark.parametrize("app_config", [{"RATELIMIT_DEFAULT": "2 per minute"}])
def test_a_default_rate_limit_does_not_reach_them(client: FlaskClient) -> None:
    assert [client.get("/healthz/ready").status_code for _ in range(5)] == [200] * 5
    assert [client.get("/healthz/live").status_code for _ in range(5)] == [200] * 5
    statuses = [client.get("/auth/login").status_code for _ in range(3)]
    assert statuses[-1] == 429, "the limit itself is in force elsewhere"


def test_ready_is_503_when_the_database_is_unreachable_and_live_is_not(
        app: Flask, db_backend: str, tmp_path: Path) -> None:
    down = create_app(base_config(unreachable(db_backend, tmp_path))).test_client()
    ready = down.get("/healthz/ready")
    assert ready.status_code == 503
    assert ready.json == {"status": "unavailable", "checks": {"database": "failing"}}
    for secret in SECRETS:
        assert secret not in ready.get_data(as_text=True)
    assert down.get("/healthz/live").status_code == 200


@pytest.mark.redis
def test_ready_reports_redis_when_it_is_configured_without_failing_on_it(
        app: Flask, redis_url: dict[str, Any], database_url: str) -> None:
    assert app.test_client().get("/healthz/ready").json == {"status": "ok",
                                                            "checks": {"database": "ok", "redis": "ok"}}
    gone = create_app({**base_config(database_url), **redis_url,
                       "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "RATELIMIT_STORAGE_URI": "memory://"})
    ready = gone.test_client().get("/healthz/ready")
    with gone.app_context():
        db.engine.dispose()
    # The site serves without Redis (limits fall back to each process): still in the balancer.
    assert ready.status_code == 200
    assert ready.json == {"status": "degraded", "checks": {"database": "ok", "redis": "failing"}}
    for secret in SECRETS:
        assert secret not in ready.get_data(as_text=True)
