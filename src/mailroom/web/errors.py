"""Error pages in HTML and JSON errors of the fixed shape, never a stack trace."""

from __future__ import annotations

import contextlib
import logging

from flask import Flask, g, make_response
from flask.typing import ResponseReturnValue
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, PendingRollbackError
from werkzeug.exceptions import HTTPException, InternalServerError

from mailroom.extensions import db, login_manager
from mailroom.i18n import _
from mailroom.web.replies import error_response

log = logging.getLogger(__name__)

# Seconds a client is asked to wait when the database cannot be reached.
DATABASE_RETRY_AFTER = 5
DATABASE_DOWN = ("Our database cannot be reached right now, so nothing was changed. "
                 "Please try again in a few seconds.")


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
