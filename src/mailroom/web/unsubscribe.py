"""One-click unsubscribe (RFC 8058): a GET only asks, a POST without cookies or CSRF token acts."""

from __future__ import annotations

from flask import Blueprint, Response, make_response, render_template
from flask.typing import ResponseReturnValue

from mailroom.domain.errors import TokenInvalid
from mailroom.extensions import csrf
from mailroom.services import announcements
from mailroom.web.errors import error_response

bp = Blueprint("unsubscribe", __name__, url_prefix="/unsubscribe")

INVALID = "This unsubscribe link is not valid. Use the link in the latest announcement you received."


def _page(template: str, token: str) -> Response:
    """A page about one token that is never cached and never leaks its URL as a referrer."""
    response = make_response(render_template(template, token=token))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/<token>")
def confirm(token: str) -> ResponseReturnValue:
    """Ask whether to unsubscribe; mail scanners follow links, so a GET changes nothing."""
    try:
        announcements.check_token(token)
    except TokenInvalid:
        return error_response(404, INVALID)
    return _page("unsubscribe/confirm.html", token)


@bp.post("/<token>")
@csrf.exempt
def one_click(token: str) -> ResponseReturnValue:
    """Unsubscribe from announcements: the mail client's one-click POST or the button on our page."""
    try:
        announcements.set_subscribed(token, False)
    except TokenInvalid:
        return error_response(404, INVALID)
    return _page("unsubscribe/done.html", token)


@bp.post("/<token>/resubscribe")
@csrf.exempt
def resubscribe(token: str) -> ResponseReturnValue:
    """Undo an unsubscribe made by mistake, with the same link."""
    try:
        announcements.set_subscribed(token, True)
    except TokenInvalid:
        return error_response(404, INVALID)
    return _page("unsubscribe/resubscribed.html", token)
