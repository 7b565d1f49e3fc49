"""Finding the real PostgreSQL and Redis servers, and what to do when one is missing."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

import pytest

POSTGRES_URL = os.environ.get(
    "MAILROOM_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("MAILROOM_TEST_REDIS", "redis://127.0.0.1:6379/0")


def in_ci() -> bool:
    """Under CI=true nothing may skip: a missing server is a failure."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def reachable(url: str) -> bool:
    """Whether something listens at the URL's host and port."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 0), timeout=2):
            return True
    except OSError:
        return False


def require(name: str, url: str) -> None:
    """Skip (locally) or fail (CI) when a server the test needs is not there."""
    if reachable(url):
        return
    message = f"{name} is not reachable at {url}"
    if in_ci():
        pytest.fail(f"{message}; under CI=true this is a failure, not a skip")
    pytest.skip(f"{message}; start it to run this test")


def free_port() -> int:
    """A TCP port on loopback that nothing is listening on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
