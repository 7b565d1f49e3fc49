"""Reading a request: what the client wants back, its fields, who is signed in; private pages."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, abort, make_response, request
from flask.typing import ResponseReturnValue
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from mailroom.domain.errors import N_
from mailroom.models import User

# Endpoints that check the password are an oracle for whoever holds a session: bound them per user.
REAUTH_LIMIT = "20 per hour"


class BadField(Exception):
    """A JSON body field that is not a string."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def wants_json() -> bool:
    """Tell whether the client asked for JSON: an API path, a JSON body, or an Accept header."""
    if request.path.startswith("/api/") or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes[
        "text/html"
    ]


def submitted() -> MultiDict[str, str]:
    """The fields of a form post or of a JSON object body (string values only, else BadField)."""
    if not request.is_json:
        return request.form
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, N_("Send a JSON object."))
    for name, value in body.items():
        if not isinstance(value, str):
            raise BadField(str(name))
    return MultiDict(body)


def user_agent() -> str:
    """The browser's User-Agent header, for the session list."""
    return request.headers.get("User-Agent", "")


def signed_in() -> User:
    """The signed-in user as a model instance."""
    user = current_user._get_current_object()
    assert isinstance(user, User)
    return user


def user_key() -> str:
    """Rate-limit key: the signed-in user, else the client address."""
    user_id = getattr(current_user, "id", None)
    return f"user:{user_id}" if user_id else get_remote_address()


def private(view: Callable[..., ResponseReturnValue]) -> Callable[..., Response]:
    """Never cache the page nor send its URL (it may hold a token) as a Referer."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Response:
        """Call the view and add the headers."""
        response = make_response(view(*args, **kwargs))
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    return wrapped
