"""The per-address account-email budget, on the memory store and on the real Redis."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from mailroom import create_app
from mailroom.services import budget
from tests.conftest import base_config


def spend_all(app: Flask, address: str, times: int) -> list[bool]:
    """Spend the budget ``times`` times for one address."""
    with app.app_context():
        return [budget.spend(address) for _ in range(times)]


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_budget_allows_the_configured_number_per_address_in_any_case(app: Flask) -> None:
    app.config["ACCOUNT_EMAILS_PER_HOUR"] = 3
    assert spend_all(app, "Bob@Example.com", 4) == [True, True, True, False]
    assert spend_all(app, "bob@example.COM", 1) == [False]
    assert spend_all(app, "carol@example.com", 1) == [True]
    with app.app_context():
        assert budget.remaining("carol@example.com") == 2


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_budget_in_redis_is_kept_per_key_prefix(database_url: str,
                                                 redis_url: dict[str, Any]) -> None:
    first = create_app({**base_config(database_url), **redis_url, "ACCOUNT_EMAILS_PER_HOUR": 2})
    assert spend_all(first, "dave@example.com", 3) == [True, True, False]
    other_prefix = {**redis_url, "REDIS_KEY_PREFIX": redis_url["REDIS_KEY_PREFIX"] + "other:"}
    second = create_app({**base_config(database_url), **other_prefix,
                         "ACCOUNT_EMAILS_PER_HOUR": 2})
    assert spend_all(second, "dave@example.com", 1) == [True]


def test_budget_fails_open_when_its_store_is_unreachable(database_url: str) -> None:
    app = create_app({**base_config(database_url), "REDIS_URL": "redis://127.0.0.1:1/0",
                      "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0",
                      "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": False})
    assert spend_all(app, "erin@example.com", 1) == [True]


@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
def test_each_application_counts_in_its_own_store(database_url: str) -> None:
    # Flask-Limiter's global instance holds the storage of the app created last; counting
    # through it made one app spend another's budget (and inherit its outage fallback).
    first = create_app({**base_config(database_url), "ACCOUNT_EMAILS_PER_HOUR": 1})
    second = create_app({**base_config(database_url), "ACCOUNT_EMAILS_PER_HOUR": 1})
    assert spend_all(first, "frank@example.com", 2) == [True, False]
    assert spend_all(second, "frank@example.com", 1) == [True]
