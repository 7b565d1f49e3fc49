"""Fixtures of the functional suite: which code store the app runs on."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def store_kind() -> str:
    """Which code store the app uses unless a test says otherwise."""
    return "database"


@pytest.fixture
def app_config(store_kind: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The real Redis for the Redis store; the database store needs nothing."""
    return dict(request.getfixturevalue("redis_url")) if store_kind == "redis" else {}
