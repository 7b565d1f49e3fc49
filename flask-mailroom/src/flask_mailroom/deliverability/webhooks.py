"""``POST <prefix>/<provider>``: providers report bounces and complaints here.

A blueprint the host mounts (``app.register_blueprint(webhooks, url_prefix="/mail/events")``); the
reply comes as soon as the event is authenticated and stored, and the delivery workers apply it.
Webhooks carry no browser session, so a host that protects forms against CSRF exempts this
blueprint (Flask-WTF: ``csrf.exempt(webhooks)``).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from flask_mailroom.deliverability import inbound

webhooks = Blueprint("mail_events", __name__)


def _reply(code: int, message: str, data: dict[str, Any] | None = None) -> Response:
    """The JSON answer ``{"code", "message", "data"}``, with the HTTP status equal to ``code``."""
    response = jsonify({"code": code, "message": message, "data": data or {}})
    response.status_code = code
    return response


@webhooks.post("/<provider>")
def receive(provider: str) -> Response:
    """Authenticate, store once per event id, answer 200; 401 for a forgery, 404 for no such provider."""
    try:
        receipt = inbound.receive(provider, dict(request.headers), request.get_data(cache=False))
    except inbound.UnknownProvider:
        return _reply(404, f"no webhook named {provider!r} is configured here")
    except inbound.WebhookRefused:
        return _reply(401, "the request is not signed by the provider")
    except inbound.WebhookInvalid as error:
        return _reply(400, str(error), {"field": error.field})
    message = "already received" if receipt.duplicate else "accepted"
    return _reply(200, message, {"event_id": receipt.event_id, "duplicate": receipt.duplicate})
