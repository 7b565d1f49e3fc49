"""Password reset, its own blueprint under ``/auth``: ask for a link, then choose a new password."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_login import current_user
from wtforms import SubmitField

from mailroom.domain.errors import N_, TokenExpired, TokenInvalid
from mailroom.i18n import _, duration
from mailroom.services import reset, signin_codes
from mailroom.web.forms import Form, email_field, new_password_field, repeat_password_field
from mailroom.web.http import private, user_agent
from mailroom.web.replies import redirect_with

bp = Blueprint("reset", __name__, url_prefix="/auth")

LINK_SENT = N_("If an account uses that address, we have emailed it a link to choose a new password. "
               "The link works once, for %(lifetime)s.")
RESET_DONE = N_("Your password has been changed and every session signed out. "
                "Sign in with your new password.")
LINK_EXPIRED = N_("This reset link has expired: links work for %(lifetime)s. Ask for a new one.")
LINK_INVALID = N_("This reset link is not valid: it may have been used already, replaced by a newer "
                  "one, or copied incompletely. Ask for a new one.")
PROBLEMS = {"expired": (N_("Link expired"), LINK_EXPIRED), "invalid": (N_("Link not valid"), LINK_INVALID)}


class ResetRequestForm(Form):
    """Ask for a reset link."""

    email = email_field()
    submit = SubmitField(_l("Email me a link"))


class ResetPasswordForm(Form):
    """Choose a new password."""

    password = new_password_field(_l("New password"))
    password2 = repeat_password_field(_l("Repeat new password"))
    submit = SubmitField(_l("Set new password"))


def link_sent_message() -> str:
    """The one reply to every reset request, whatever the address."""
    return str(_(LINK_SENT, lifetime=duration(reset.ttl_seconds())))


def link_problem_message(error: TokenExpired | TokenInvalid) -> tuple[str, str, str]:
    """The reason, title and message for a link that cannot be used."""
    reason = "expired" if isinstance(error, TokenExpired) else "invalid"
    title, message = PROBLEMS[reason]
    return reason, _(title), _(message, lifetime=duration(reset.ttl_seconds()))


@bp.route("/reset_password_request", methods=["GET", "POST"])
@private
def reset_password_request() -> ResponseReturnValue:
    """Ask for a link; every address gets the same redirect, message and status."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = ResetRequestForm()
    if form.validate_on_submit():
        session[SENT_KEY] = reset.request_reset(form.email.data or "", get_remote_address())
        return redirect(url_for("reset.link_sent"))
    return render_template("auth/reset_password_request.html", form=form), 400 if form.errors else 200


@bp.get("/reset_password/sent")
@private
def link_sent() -> ResponseReturnValue:
    """"Check your email": the address asked for (kept in the session, never in the URL), and what to
    do when no email comes, with the moment a pause on mail to that address ends (it tells nothing of
    an account: every request counts alike)."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    address = session.get(SENT_KEY)
    if not isinstance(address, str):
        return redirect(url_for("reset.reset_password_request"))
    form = ResetRequestForm(data={"email": address})
    return render_template("auth/reset_link_sent.html", email=address, form=form,
                           lifetime=reset.ttl_seconds(), paused_until=reset.paused_until(address))


def _link_problem(error: TokenExpired | TokenInvalid) -> ResponseReturnValue:
    """The page for an expired or invalid link, with a button to ask for a new one."""
    reason, title, message = link_problem_message(error)
    return render_template("auth/reset_link_problem.html", reason=reason, title=title,
                           message=message), 400


# The session (signed, not encrypted: readable by whoever holds the cookie) keeps only a random
# handle; the token itself waits on the server (services.reset.hand_off).
SESSION_KEY = "reset_handoff"
# The address the last reset request named, for the "check your email" page after the redirect.
SENT_KEY = "reset_sent_to"


@bp.get("/reset_password/<token>")
@private
def reset_password_link(token: str) -> ResponseReturnValue:
    """The emailed link: keep the token on the server, its handle in the session, and move to an
    address without it, so access logs, history and Referer never hold it (no account changes)."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    try:
        session[SESSION_KEY] = reset.hand_off(token, get_remote_address())
    except reset.TooManyAttempts:
        abort(429)
    return redirect(url_for("reset.reset_password"))


@bp.route("/reset_password", methods=["GET", "POST"])
@private
def reset_password() -> ResponseReturnValue:
    """GET shows the form and changes nothing; POST sets the password and signs everyone out."""
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    handle = str(session.get(SESSION_KEY) or "")
    form = ResetPasswordForm()
    try:
        if form.validate_on_submit():
            user = reset.reset_password_handed_off(handle, form.password.data or "", get_remote_address())
            session.pop(SESSION_KEY, None)
            done = redirect_with(_(RESET_DONE), url_for("auth.login"))
            # The link proved the mailbox: this browser is trusted, so the new-browser check passes.
            signin_codes.trust_after_reset(user, done, user_agent(), get_remote_address())
            return done
        account = reset.check_link(reset.handed_off_token(handle))
    except (TokenExpired, TokenInvalid) as error:
        return _link_problem(error)
    except reset.TooManyAttempts:
        abort(429)
    return render_template("auth/reset_password.html", form=form, account=account), \
        400 if form.errors else 200
