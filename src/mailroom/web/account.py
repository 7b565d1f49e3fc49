"""The account page: address status, confirmation by code, change of address by code, revert link.

Every POST here answers JSON to AJAX (a JSON body or ``Accept: application/json``), and to plain
forms a 303 to the account page at the form's card, whose status area shows the answer
(``web.replies``, ``web.account_page``); a GET of a form's address lands on that card too. The CSRF
token comes in the ``X-CSRFToken`` header or the form field.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_login import login_required, logout_user
from werkzeug.wrappers.response import Response as BaseResponse
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional

from mailroom.domain.addresses import MAX_EMAIL_LENGTH
from mailroom.domain.errors import TokenExpired, TokenInvalid
from mailroom.extensions import limiter
from mailroom.i18n import _, duration
from mailroom.services import confirmation, deliverability, email_change
from mailroom.services.accounts import AccountError
from mailroom.services.preferences import set_email_preferences
from mailroom.web.account_page import answer, card_url, forget_sent, remember_sent, render_page
from mailroom.web.forms import Form, current_password_field, email_field, no_control_characters
from mailroom.web.http import REAUTH_LIMIT, private, signed_in, submitted, user_key
from mailroom.web.refusals import PROBLEMS
from mailroom.web.replies import done, guarded, invalid_form, redirect_with, refuse

bp = Blueprint("account", __name__, url_prefix="/account")


class SendCodeForm(Form):
    """Ask for a code at a new address, re-entering the password."""

    email = email_field(_l("New email address"))
    password = current_password_field(_l("Current password"))


class CodeForm(Form):
    """Type a code; ``email`` optionally names the address the code is expected for."""

    code = StringField(_l("Code"), validators=[DataRequired(_l("Enter the code from the email.")),
                                           Length(max=32), no_control_characters])
    email = StringField(_l("Email"), validators=[Optional(), Length(max=MAX_EMAIL_LENGTH),
                                             no_control_characters])


@bp.get("/")
@login_required
def index() -> str:
    """The signed-in user's address, its confirmation state and account actions."""
    return render_page()


@bp.post("/email/try-again")
@login_required
def try_again() -> ResponseReturnValue:
    """The owner says their address works again: mail it again (a new bounce stops it anew)."""
    user = signed_in()
    if not deliverability.try_again(user):
        return redirect(card_url("address"), 303)
    return answer("success", _("We will send mail to %(email)s again.", email=user.email))


# A reload or a bookmark of a card's form address: the account page at that card, never a 405.
RELOADS = {"/email/try-again": "address", "/email/code": "change-email", "/email": "change-email",
           "/confirm": "confirm", "/confirm/resend": "confirm", "/preferences": "preferences",
           "/password": "change-password", "/sessions/<int:number>/end": "sessions",
           "/sessions/end-others": "sessions", "/browsers/<int:number>/forget": "browsers",
           "/browsers/forget-all": "browsers", "/signin": "signin", "/language": "language-preferences"}


def reload_form(**_: object) -> BaseResponse:
    """Send a GET of a form's address to the account page at the card that form belongs to."""
    rule = request.url_rule.rule if request.url_rule else ""
    return redirect(card_url(RELOADS.get(rule.removeprefix(bp.url_prefix or ""), "address")), 303)


for _path in RELOADS:
    bp.add_url_rule(_path, f"reload{_path}", reload_form, methods=["GET"])


# --- change of address -------------------------------------------------------------------------


@bp.post("/email/code")
@login_required
@limiter.limit(REAUTH_LIMIT, key_func=user_key)
@guarded
def send_email_code() -> ResponseReturnValue:
    """Check the password and the new address, then email a code there (AJAX: JSON in and out)."""
    form = SendCodeForm(formdata=submitted())
    if not form.validate():
        return invalid_form(form)
    try:
        issued = email_change.request_code(signed_in(), form.email.data or "", form.password.data or "")
    except PROBLEMS as error:
        return refuse(error, "email")
    remember_sent(issued.email, issued.expires_in)
    return done(_("We sent a code to %(email)s. Enter it below.", email=issued.email),
                {"email": issued.email, "resend_after": issued.resend_after,
                 "expires_in": issued.expires_in})


@bp.post("/email")
@login_required
@guarded
def change_email() -> ResponseReturnValue:
    """Switch to the new address when the code matches; this session stays signed in."""
    form = CodeForm(formdata=submitted())
    if not form.validate():
        return invalid_form(form)
    user = signed_in()
    try:
        old = email_change.change_address(user, form.code.data or "", form.email.data)
    except PROBLEMS as error:
        return refuse(error, "code", email_change.PURPOSE)
    forget_sent()
    return done(_("Your address is now %(email)s. We told %(old)s about the change.", email=user.email,
                  old=old),
                {"email": user.email, "confirmed": True})


# --- confirmation of a new account ---------------------------------------------------------------


@bp.post("/confirm")
@login_required
@guarded
def confirm_email() -> ResponseReturnValue:
    """Confirm the account's address with the emailed code."""
    form = CodeForm(formdata=submitted())
    if not form.validate():
        return invalid_form(form)
    try:
        confirmation.confirm(signed_in(), form.code.data or "")
    except PROBLEMS as error:
        return refuse(error, "code", confirmation.PURPOSE)
    return done(_("Thank you: your address is confirmed."), {"email": signed_in().email, "confirmed": True})


@bp.post("/confirm/resend")
@login_required
def resend_confirmation() -> ResponseReturnValue:
    """Email a new confirmation code, after the cooldown."""
    try:
        issued = confirmation.resend(signed_in())
    except PROBLEMS as error:
        return refuse(error, "code")
    return done(_("We sent a new code to %(email)s.", email=issued.email),
                {"email": issued.email, "resend_after": issued.resend_after,
                 "expires_in": issued.expires_in})


# --- email preferences ---------------------------------------------------------------------------


def _checkbox(name: str) -> bool | None:
    """A checkbox sent after its hidden "0" twin: None when the form did not have it."""
    values = request.form.getlist(name)
    return "1" in values if values else None


@bp.post("/preferences")
@login_required
def preferences() -> ResponseReturnValue:
    """Subscribe to announcements or stop them, and turn sign-in notices on or off."""
    wanted, notices, user = request.form.get("announcements") == "1", _checkbox("signin_notices"), signed_in()
    said = [_("You will receive announcements.") if wanted else
            _("You will no longer receive announcements. Account emails still reach you.")]
    if notices is not None and notices != user.signin_notices:
        said.append(_("We will email you when a browser new to your account signs in.") if notices else
                    _("We will no longer email you when a browser new to your account signs in."))
    set_email_preferences(user, wanted, notices)
    return answer("success", " ".join(said))


# --- the revert link sent to the old address ------------------------------------------------------


def link_problem(error: TokenExpired | TokenInvalid | AccountError) -> tuple[str, int]:
    """The page for a revert link that cannot be used."""
    if isinstance(error, TokenExpired):
        reason, message = "expired", _("This link has expired: a change can be undone for %(lifetime)s.",
                                             lifetime=duration(email_change.revert_ttl()))
    elif isinstance(error, AccountError):
        reason, message = "taken", error.message
    else:
        reason, message = "invalid", _("This link is not valid: it was already used, or it was "
                                             "copied incompletely.")
    return render_template("account/revert_problem.html", reason=reason, message=message), 400


@bp.get("/email/revert/<token>")
@private
def revert_email(token: str) -> ResponseReturnValue:
    """Show what the revert link will do; nothing changes on a GET (mail scanners follow links)."""
    try:
        claim = email_change.read_revert(token)
    except (TokenExpired, TokenInvalid) as error:
        return link_problem(error)
    return render_template("account/revert.html", old_email=claim.old_email, token=token)


@bp.post("/email/revert/<token>")
@private
def revert_email_confirmed(token: str) -> ResponseReturnValue:
    """Put the old address back, sign out every session and send the user to reset the password."""
    try:
        user = email_change.revert(token)
    except (TokenExpired, TokenInvalid, AccountError) as error:
        return link_problem(error)
    logout_user()
    return redirect_with(_("Your address is %(email)s again and every session is signed out. "
                           "Choose a new password to sign in.", email=user.email),
                         url_for("reset.reset_password_request"))


@bp.post("/email/revert/<token>/keep")
@private
def keep_new_email(token: str) -> ResponseReturnValue:
    """The change was the owner's: release the old address now instead of at the link's expiry."""
    try:
        claim = email_change.release_old_address(token)
    except (TokenExpired, TokenInvalid) as error:
        return link_problem(error)
    return redirect_with(_("Thank you. %(email)s is no longer kept for your account.", email=claim.old_email),
                         url_for("main.index"))
