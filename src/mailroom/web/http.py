"""Small HTTP helpers shared by views: JSON replies of one shape, safe redirects."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, jsonify, make_response, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from werkzeug.wrappers.response import Response as BaseResponse

from mailroom.domain.addresses import is_safe_next
from mailroom.i18n import _


def wants_json() -> bool:
    """Tell whether the client asked for JSON: an API path, a JSON body, or an Accept header."""
    if request.path.startswith("/api/") or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes[
        "text/html"
    ]


def json_reply(code: int, message: str, data: dict[str, Any] | None = None) -> Response:
    """The one JSON shape: ``{"code", "message", "data"}`` with the HTTP status equal to code."""
    response = jsonify({"code": code, "message": str(message), "data": data or {}})
    response.status_code = code
    return response


def form_errors(form: FlaskForm) -> dict[str, str]:
    """The first error of each invalid field, keyed by field name."""
    return {name: str(messages[0]) for name, messages in form.errors.items() if messages}


def json_form_error(form: FlaskForm) -> Response:
    """A 400 JSON reply naming the first invalid field and listing all of them."""
    errors = form_errors(form)
    field, message = next(iter(errors.items()), ("", _("Invalid input.")))
    return json_reply(400, message, {"field": field, "errors": errors})


def redirect_next(default_endpoint: str) -> BaseResponse:
    """Redirect to the ``next`` parameter when it is a local path, else to a default page."""
    target = request.args.get("next") or request.form.get("next")
    if target and is_safe_next(target):
        return redirect(target)
    return redirect(url_for(default_endpoint))


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
