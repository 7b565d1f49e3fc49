"""Error pages in HTML and JSON errors of the fixed shape, never a stack trace."""

from __future__ import annotations

import contextlib
import logging

from flask import Flask, g, make_response, render_template
from flask.typing import ResponseReturnValue
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, PendingRollbackError
from werkzeug.exceptions import HTTPException, InternalServerError

from mailroom.domain.errors import N_
from mailroom.extensions import db, login_manager
from mailroom.i18n import _
from mailroom.web.http import json_reply, wants_json

log = logging.getLogger(__name__)

FALLBACK = N_("Error.")
MESSAGES = {
    400: N_("The request could not be understood."),
    403: N_("You do not have access to this page."),
    404: N_("There is nothing here."),
    405: N_("That method is not allowed here."),
    413: N_("What you sent is too large."),
    429: N_("Too many requests. Please wait a moment and try again."),
    500: N_("Something went wrong on our side. It has been reported."),
    503: N_("A service this page needs is unavailable. Please try again shortly."),
}


# Seconds a client is asked to wait when the database cannot be reached.
DATABASE_RETRY_AFTER = 5
DATABASE_DOWN = ("Our database cannot be reached right now, so nothing was changed. "
                 "Please try again in a few seconds.")


def error_response(code: int, message: str | None = None,
                   field: str | None = None) -> ResponseReturnValue:
    """Render an error as JSON or HTML, depending on what the client asked for."""
    # Messages given by views are msgids too (marked N_ where they are written).
    text = str(_(message or MESSAGES.get(code, FALLBACK)))
    if wants_json():
        return json_reply(code, text, {"field": field} if field is not None else None)
    return render_template("errors/error.html", code=code, message=text), code


def _http_error(error: HTTPException) -> ResponseReturnValue:
    """Any HTTP error raised by Flask, Werkzeug or a view."""
    code = error.code or 500
    custom = error.description if error.description != type(error).description else None
    if isinstance(error, RateLimitExceeded):
        custom = None  # its description is the limit ("20 per 1 hour"), not a sentence for people
    return error_response(code, custom)


def _csrf_error(error: CSRFError) -> ResponseReturnValue:
    """A missing or wrong CSRF token: 400, naming the token."""
    reason = _(str(error.description))
    return error_response(400, _("Security check failed: %(reason)s Reload the page and try again.",
                                       reason=reason), field="csrf_token")


def _database_down(error: Exception) -> ResponseReturnValue:
    """The database went away (restart, network): 503 with Retry-After, logged once, no report."""
    if isinstance(error, DBAPIError) and not isinstance(error, (OperationalError, InterfaceError)) \
            and not error.connection_invalidated:
        return _unexpected(error)
    log.warning("database unavailable: %s", type(getattr(error, "orig", None) or error).__name__)
    with contextlib.suppress(Exception):  # the connection is gone; the session is discarded anyway
        db.session.rollback()
    # The page must not ask the database who is signed in: show it as to a visitor.
    g._login_user = login_manager.anonymous_user()
    response = make_response(error_response(503, DATABASE_DOWN))
    response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER)
    return response


def _unexpected(error: Exception) -> ResponseReturnValue:
    """An unexpected exception: logged with its trace, shown as a plain 500."""
    if isinstance(error, HTTPException):
        return _http_error(error)
    log.exception("unhandled error", exc_info=error)
    return error_response(500)


def register(app: Flask) -> None:
    """Install the handlers."""
    app.register_error_handler(CSRFError, _csrf_error)
    for database_error in (OperationalError, InterfaceError, PendingRollbackError, DBAPIError):
        app.register_error_handler(database_error, _database_down)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, _unexpected)
    app.register_error_handler(Exception, _unexpected)
