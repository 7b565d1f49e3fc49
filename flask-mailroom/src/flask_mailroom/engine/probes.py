"""Health probes shared by the web's and the worker's health endpoints: is the database there, is Redis.

Each probe answers a ``Check``: a name and whether it passed, never why it failed (error texts name
hosts, users and paths, and health endpoints answer anyone who can reach them; the reason goes to
the log). ``verdict`` turns checks into the HTTP status and the small JSON body both endpoints send:
a failing check that is not ``required`` (the service copes without it) is shown, as ``degraded``,
without a 503.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

# The longest a probe waits for the database or Redis to answer, in seconds.
PROBE_TIMEOUT = 2


@dataclass(frozen=True)
class Check:
    """One thing a health endpoint looked at, and whether it is fine."""

    name: str
    ok: bool
    required: bool = True


def verdict(checks: Iterable[Check]) -> tuple[int, dict[str, Any]]:
    """200 and ``{"status": "ok", ...}`` when every check passed, 200 and ``"degraded"`` when only
    checks that are not required failed, else 503 and ``"unavailable"``; each check named with
    ``ok`` or ``failing``."""
    found = list(checks)
    usable = all(check.ok for check in found if check.required)
    status = "ok" if all(check.ok for check in found) else "degraded" if usable else "unavailable"
    body = {"status": status, "checks": {check.name: "ok" if check.ok else "failing" for check in found}}
    return (200 if usable else 503), body


def probe_engine(url: URL) -> Engine:
    """An engine of its own for probes: no pool (a probe never waits behind busy connections) and a
    short connect timeout."""
    timeout = {"connect_timeout": PROBE_TIMEOUT} if url.get_backend_name() == "postgresql" else {
        "timeout": PROBE_TIMEOUT}
    return create_engine(url, poolclass=NullPool, connect_args=timeout)


def database_check(engine: Engine) -> Check:
    """Whether the database answers ``SELECT 1``."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # any failure means "not reachable"; the probe itself must not fail
        log.warning("health: the database did not answer (%s)", type(error).__name__)
        return Check("database", False)
    return Check("database", True)


def redis_check(url: str, required: bool = True) -> Check:
    """Whether Redis at ``url`` answers PING (failing when the ``redis`` package is missing)."""
    try:
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=PROBE_TIMEOUT, socket_timeout=PROBE_TIMEOUT)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as error:  # as above: a failing check, never an error page
        log.warning("health: Redis did not answer (%s)", type(error).__name__)
        return Check("redis", False, required)
    return Check("redis", True, required)
