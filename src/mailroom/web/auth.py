"""Sign in, sign out (registration and password reset have blueprints of their own)."""

from __future__ import annotations

from flask import Blueprint, Flask, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers.response import Response

from mailroom.domain.errors import N_
from mailroom.extensions import login_manager
from mailroom.i18n import _, duration
from mailroom.models import User
from mailroom.services import accounts, sessions, signin_codes
from mailroom.web import signin
from mailroom.web.forms import LoginForm
from mailroom.web.http import signed_in, submitted, user_agent, wants_json
from mailroom.web.refusals import PROBLEMS
from mailroom.web.replies import guarded, json_form_error, json_reply, redirect_next, redirect_with

bp = Blueprint("auth", __name__, url_prefix="/auth")


ALREADY_IN = N_("You are already signed in.")
THROTTLED = N_("Too many failed sign-in attempts. Please wait %(wait)s and try again, or choose a new "
               "password with \"Forgot your password?\".")


def _wait_text(seconds: int) -> str:
    """A wait for people in the page's language: seconds under two minutes, else whole minutes."""
    return duration(seconds if seconds < 120 else 60 * -(-seconds // 60))


def _throttled(form: LoginForm, error: accounts.SignInThrottled) -> ResponseReturnValue:
    """429 with Retry-After: the same words for every account, known or not."""
    message = _(THROTTLED, wait=_wait_text(error.retry_after))
    if wants_json():
        response = json_reply(429, message, {"field": "password", "retry_after": error.retry_after})
    else:
        form.password.errors.append(message)
        response = make_response(render_template("auth/login.html", form=form), 429)
    response.headers["Retry-After"] = str(error.retry_after)
    return response


def _signed_in_reply() -> Response:
    """Where a successful sign-in goes: the local ``next`` page (named in JSON to AJAX)."""
    target = redirect_next("main.index")
    return json_reply(200, _("Signed in."), {"next": target.location}) if wants_json() else target


@bp.route("/login", methods=["GET", "POST"])
@guarded
def login() -> ResponseReturnValue:
    """Sign in with a username or email (a form, or a JSON object); follow ``next`` only locally."""
    if current_user.is_authenticated:
        home = url_for("account.index")
        return json_reply(200, _(ALREADY_IN), {"next": home}) if wants_json() else redirect(home)
    form = LoginForm(formdata=submitted()) if request.method == "POST" else LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        reply = _signed_in_reply()
        try:
            user = signin_codes.password_sign_in(form.identifier.data or "", form.password.data or "",
                                                 get_remote_address() or "", user_agent(),
                                                 bool(form.remember.data), reply)
        except accounts.SignInThrottled as error:
            return _throttled(form, error)
        except accounts.InvalidCredentials as error:
            form.password.errors.append(error.message)
        except PROBLEMS as error:
            return signin.check_refused(form, error)
        else:
            if isinstance(user, signin_codes.BrowserCheck):
                return signin.ask_for_browser_code(user, form.next.data or "")
            login_user(user, remember=bool(form.remember.data))
            return reply
    if wants_json() and request.method == "POST":
        return json_form_error(form)
    return render_template("auth/login.html", form=form), 400 if form.errors else 200


@bp.post("/logout")
@login_required
def logout() -> Response:
    """Sign out: the server forgets this session, so a copied cookie is dead too."""
    sessions.end_current(signed_in())
    logout_user()
    return redirect_with(_("You are signed out."), url_for("main.index"), "info")


def load_user(session_id: str) -> User | None:
    """The user of a live server-side session; an ended or unknown session signs nobody in."""
    return sessions.resume(session_id)


def register_login(app: Flask) -> None:
    """Configure Flask-Login for this application."""
    login_manager.user_loader(load_user)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.login_message_category = "info"
    # Off: sign-ins are server-side sessions (ended by sign-out, a reset, a new password) and no view
    # asks for a fresh login, so "basic" only wrote ``_fresh`` into a visitor's cookie on a request
    # that merely read it, and a page's concurrent request could then undo what another stored.
    login_manager.session_protection = None
