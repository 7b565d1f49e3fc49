"""Request bodies refused before any view runs: invalid UTF-8 (form, multipart, JSON), deep JSON.

A form decoder turns bytes that are not UTF-8 into U+FFFD, and Python's JSON parser overflows the
stack on deep nesting; either would reach a view as data or as a 500. Here they get a clear 400
and change nothing.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from flask import Flask, current_app, request
from flask.typing import ResponseReturnValue

from mailroom.domain.bodies import has_unreadable_characters, json_depth
from mailroom.domain.errors import N_
from mailroom.i18n import _
from mailroom.web.replies import error_response

URLENCODED = "application/x-www-form-urlencoded"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NOT_UTF8 = N_("The request is not valid UTF-8 text. Nothing was changed.")
TOO_DEEP = N_("The JSON body nests more than %(limit)d levels deep. Nothing was changed.")


def _json_problem() -> str | None:
    """Why a JSON body cannot be read safely, or None."""
    try:
        text = request.get_data(cache=True).decode("utf-8")
    except UnicodeDecodeError:
        return NOT_UTF8
    limit = int(current_app.config["MAX_JSON_DEPTH"])
    if json_depth(text, limit) > limit:
        return _(TOO_DEEP, limit=limit)
    return None


def _urlencoded_problem() -> str | None:
    """The first name of a urlencoded body whose bytes, once %-decoded, are not UTF-8, or None.

    Werkzeug keeps such escapes undecoded or drops the pair, so the form alone cannot tell.
    """
    for pair in request.get_data(cache=True).split(b"&"):
        name, _, value = pair.partition(b"=")
        try:
            for part in (name, value):
                unquote_to_bytes(part.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            return unquote_to_bytes(name).decode("utf-8", "replace")
    return None


def _unreadable_field() -> str | None:
    """The first form field (or file name) whose bytes were not UTF-8, or None."""
    for name, values in request.form.lists():
        if has_unreadable_characters(name) or any(has_unreadable_characters(v) for v in values):
            return name
    for name, upload in request.files.items(multi=True):
        if has_unreadable_characters(name) or has_unreadable_characters(upload.filename or ""):
            return name
    return None


def check_body() -> ResponseReturnValue | None:
    """Answer 400 to a body that is not UTF-8 or nests too deeply; let everything else through."""
    if request.method not in BODY_METHODS:
        return None
    if request.is_json:
        problem = _json_problem()
        return error_response(400, problem, field="") if problem else None
    field = _urlencoded_problem() if request.mimetype == URLENCODED else None
    field = field if field is not None else _unreadable_field()
    if field is not None:
        return error_response(400, NOT_UTF8, field=field or "")
    return None


def register(app: Flask) -> None:
    """Check every request's body first, before even the CSRF check parses the form."""
    app.before_request_funcs.setdefault(None, []).insert(0, check_body)
