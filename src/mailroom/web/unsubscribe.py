"""One-click unsubscribe (RFC 8058): a GET only asks, a POST without cookies or CSRF token acts."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from mailroom.domain.errors import N_, TokenInvalid
from mailroom.extensions import csrf
from mailroom.services import announcement_audience as audience
from mailroom.web.http import private
from mailroom.web.replies import error_response

bp = Blueprint("unsubscribe", __name__, url_prefix="/unsubscribe")

INVALID = N_("This unsubscribe link is not valid. Use the link in the latest announcement you received.")


@bp.get("/<token>")
@private
def confirm(token: str) -> ResponseReturnValue:
    """Ask whether to unsubscribe; mail scanners follow links, so a GET changes nothing."""
    try:
        email, subscribed = audience.subscription(token)
    except TokenInvalid:
        return error_response(404, INVALID)
    if not subscribed:
        return render_template("unsubscribe/done.html", token=token, email=email, already=True)
    return render_template("unsubscribe/confirm.html", token=token, email=email)


def _answer(token: str, subscribed: bool, page: str) -> ResponseReturnValue:
    """Set the owner's choice and show the page that says so, naming the address."""
    try:
        email, already = audience.set_subscribed(token, subscribed)
    except TokenInvalid:
        return error_response(404, INVALID)
    return render_template(page, token=token, email=email, already=already)


@bp.post("/<token>")
@csrf.exempt
@private
def one_click(token: str) -> ResponseReturnValue:
    """Unsubscribe from announcements: the mail client's one-click POST or the button on our page."""
    return _answer(token, False, "unsubscribe/done.html")


@bp.post("/<token>/resubscribe")
@csrf.exempt
@private
def resubscribe(token: str) -> ResponseReturnValue:
    """Undo an unsubscribe made by mistake, with the same link."""
    return _answer(token, True, "unsubscribe/resubscribed.html")
