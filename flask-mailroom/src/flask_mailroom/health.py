"""``GET /healthz/live`` and ``GET /healthz/ready``: the web process's health, for load balancers and
orchestrators.

A blueprint the host mounts (``app.register_blueprint(health)``; its routes carry their own
``/healthz`` prefix). ``live`` answers 200 while the process serves requests, touching nothing else;
``ready`` answers 200 when the mail database answers, else 503; with ``REDIS_URL`` set it also
pings Redis, and reports it failing as ``degraded`` with a 200 (the site serves most pages without
it: taking every web process out of the balancer at once would be worse).
Both send ``{"status": ..., "checks": {...}}`` and nothing more: no error text, host or version.
They need no sign-in and carry no session, so a host that checks CSRF or rate-limits by default
exempts this blueprint (Flask-WTF: ``csrf.exempt(health)``; Flask-Limiter:
``limiter.exempt(health)``). Workers answer the same paths on their metrics port
(``flask_mailroom.engine.metrics``).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from flask_mailroom.engine.probes import Check, database_check, redis_check, verdict
from flask_mailroom.store import db

__all__ = ["health", "readiness"]

health = Blueprint("mail_health", __name__)


def _reply(status: int, body: dict[str, object]) -> Response:
    """The JSON answer, never cached."""
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def readiness() -> list[Check]:
    """What the web process needs to serve, the mail database; and Redis when ``REDIS_URL`` is set,
    which it can serve without (a failing Redis makes it ``degraded``, not unavailable)."""
    checks = [database_check(db.engine)]
    url = current_app.config.get("REDIS_URL")
    if url:
        checks.append(redis_check(str(url), required=False))
    return checks


@health.get("/healthz/live")
def live() -> Response:
    """200 while the process answers requests (nothing else is looked at)."""
    return _reply(*verdict([]))


@health.get("/healthz/ready")
def ready() -> Response:
    """200 when the database answers (``degraded`` when Redis does not); 503 naming what fails."""
    return _reply(*verdict(readiness()))
