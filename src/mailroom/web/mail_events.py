"""``POST /mail/events/<provider>``: providers report bounces and complaints here.

The reply comes as soon as the event is authenticated and stored; the delivery workers apply it.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from mailroom.extensions import csrf
from mailroom.mail import inbound
from mailroom.web.http import json_reply

bp = Blueprint("mail_events", __name__, url_prefix="/mail/events")


@bp.post("/<provider>")
@csrf.exempt
def receive(provider: str) -> Response:
    """Authenticate, store once per event id, answer 200; 401 for a forgery, 404 for no such provider."""
    try:
        receipt = inbound.receive(provider, dict(request.headers), request.get_data(cache=False))
    except inbound.UnknownProvider:
        return json_reply(404, f"no webhook named {provider!r} is configured here")
    except inbound.WebhookRefused:
        return json_reply(401, "the request is not signed by the provider")
    except inbound.WebhookInvalid as error:
        return json_reply(400, str(error), {"field": error.field})
    message = "already received" if receipt.duplicate else "accepted"
    return json_reply(200, message, {"event_id": receipt.event_id, "duplicate": receipt.duplicate})
