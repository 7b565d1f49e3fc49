"""When a spent account-email budget frees a slot: what the account and reset pages tell the owner."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from mailroom import create_app
from mailroom.services import budget
from tests.conftest import base_config


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_paused_until_is_none_until_the_budget_is_spent_then_within_the_hour(app: Flask) -> None:
    app.config["ACCOUNT_EMAILS_PER_HOUR"] = 2
    with app.app_context():
        assert budget.paused_until("gina@example.com") is None
        assert budget.spend("gina@example.com")
        assert budget.paused_until("Gina@Example.com") is None
        assert budget.spend("gina@example.com")
        until = budget.paused_until("GINA@example.com")
        assert until is not None
        assert until.tzinfo is not None
        assert datetime.now(UTC) < until <= datetime.now(UTC) + timedelta(hours=1, seconds=1)
        assert budget.paused_until("hal@example.com") is None


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_paused_until_reads_the_redis_window(database_url: str, redis_url: dict[str, Any]) -> None:
    app = create_app({**base_config(database_url), **redis_url, "ACCOUNT_EMAILS_PER_HOUR": 1})
    with app.app_context():
        assert budget.spend("ivy@example.com")
        until = budget.paused_until("ivy@example.com")
        assert until is not None
        assert until > datetime.now(UTC)


def test_paused_until_is_none_when_the_store_is_unreachable(database_url: str) -> None:
    app = create_app({**base_config(database_url), "REDIS_URL": "redis://127.0.0.1:1/0",
                      "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0",
                      "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": False})
    with app.app_context():
        assert budget.paused_until("jay@example.com") is None
