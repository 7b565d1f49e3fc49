"""Trusted browsers, a card of the account page (``account/_devices.html``) with its own blueprint
under ``/account``: forget one browser, or all of them. Each answers JSON to AJAX, else redirects."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue
from flask_login import login_required

from mailroom.i18n import _
from mailroom.services import devices
from mailroom.web.http import signed_in, submitted
from mailroom.web.replies import done, guarded, problem

bp = Blueprint("account_devices", __name__, url_prefix="/account")


@bp.post("/browsers/<int:number>/forget")
@login_required
@guarded
def forget_browser(number: int) -> ResponseReturnValue:
    """Forget one trusted browser: its next sign-in counts as a new browser's."""
    submitted()  # a body, when there is one, must be a JSON object of strings (else 400)
    if not devices.forget(signed_in(), number):
        return problem(404, _("Your account does not trust that browser."), {"field": "browser"})
    return done(_("That browser is forgotten: its next sign-in counts as a new browser's."),
                {"forgotten": number})


@bp.post("/browsers/forget-all")
@login_required
@guarded
def forget_all_browsers() -> ResponseReturnValue:
    """Forget every trusted browser, this one included."""
    submitted()  # a body, when there is one, must be a JSON object of strings (else 400)
    count = devices.forget_every_browser(signed_in())
    return done(_("Every browser is forgotten: each counts as a new browser at its next sign-in."),
                {"forgotten": count})
