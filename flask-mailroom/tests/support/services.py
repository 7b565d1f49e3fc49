"""Finding the real PostgreSQL and Redis servers, and what to do when one is missing."""

from __future__ import annotations

import os
import random
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


# Ports for the suite's own servers: below the kernel's ephemeral range (32768 and up on Linux),
# which outgoing connections take their source ports from, so a client socket of another test or
# process cannot take a port between our choosing it and a server binding it (or a stopped server
# coming back on it). Each pytest-xdist worker draws from a block of its own.
PORT_BLOCK_START = 16000
PORT_BLOCK_SIZE = 1000
PORT_BLOCKS = 16
# Where this process goes on in each block it has used.
NEXT_OFFSET: dict[int, int] = {}


def worker_index() -> int:
    """This pytest-xdist worker's number (``gw3`` is 3); 0 without xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    digits = name.removeprefix("gw")
    return int(digits) if digits.isdigit() else 0


def free_port() -> int:
    """A TCP port on loopback that nothing is listening on right now, from this worker's block.

    The block is walked in turn from a random start, so that ports asked for together (several
    listeners of one server) are never the same one, and a port is handed out again only after
    the rest of the block.
    """
    low = PORT_BLOCK_START + (worker_index() % PORT_BLOCKS) * PORT_BLOCK_SIZE
    offset = NEXT_OFFSET.setdefault(low, random.randrange(PORT_BLOCK_SIZE))
    for step in range(PORT_BLOCK_SIZE):
        port = low + (offset + step) % PORT_BLOCK_SIZE
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        NEXT_OFFSET[low] = (offset + step + 1) % PORT_BLOCK_SIZE
        return port
    with socket.socket() as sock:  # the block is full (other runs on this machine): any port
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
