"""Sign-in by emailed code and the new-browser check, their own blueprint: ask, then type the code.

Every form here answers JSON to a JSON body (or ``Accept: application/json``) and HTML otherwise.
Between the steps the browser keeps its pending code in its session: a random handle, the address
and when it asked (never the code). The account's sign-in settings card posts here too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers.response import Response
from wtforms import BooleanField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from mailroom.domain.addresses import is_safe_next
from mailroom.domain.errors import N_
from mailroom.i18n import _, duration
from mailroom.services import signin_codes
from mailroom.services.signin_codes import BrowserCheck, CodeRequest
from mailroom.web.forms import Form, LoginForm, email_field, no_control_characters
from mailroom.web.http import private, signed_in, submitted, user_agent, wants_json
from mailroom.web.refusals import PROBLEMS, Problem, describe
from mailroom.web.replies import done, first_error, guarded, json_form_error, json_reply, redirect_with
from mailroom.web.said import said, say

bp = Blueprint("signin", __name__)

REQUEST_KEY = "signin_code"
CHECK_KEY = "new_browser"
CODE_PAGE = "signin.enter_code"
CHECK_PAGE = "signin.new_browser"
ALREADY_IN = N_("You are already signed in.")
CODE_SENT = N_("If an account that can sign in by code uses %(email)s, we have emailed it a sign-in "
               "code. It works for %(lifetime)s, in this browser only.")
NEW_CODE_SENT = N_("If an account that can sign in by code uses %(email)s, a new code is on its way; "
                   "the earlier one no longer works.")
CHECK_SENT = N_("This browser has not signed in to your account before, so we emailed a code to "
                "%(email)s. Type it to finish signing in.")
NEW_CHECK_SENT = N_("We emailed a new code to %(email)s; the earlier one no longer works.")
NOTHING_PENDING = N_("Ask for a sign-in code first.")
CHECK_MISSING = N_("Sign in with your password first.")
SETTINGS_SAVED = N_("Your sign-in settings are saved.")
TRUE_VALUES = frozenset({"1", "true", "on", "yes", "y"})


class CodeRequestForm(Form):
    """The address to email a sign-in code to."""

    email = email_field()
    submit = SubmitField(_l("Email me a sign-in code"))


def code_field() -> StringField:
    """The code box: a few characters, typed as read from the email."""
    return StringField(_l("Code from the email"), validators=[
        DataRequired(_l("Enter the code from the email.")), Length(max=32), no_control_characters])


class SignInCodeForm(Form):
    """The emailed sign-in code, and whether to stay signed in."""

    code = code_field()
    remember = BooleanField(_l("Remember me"))
    submit = SubmitField(_l("Sign in"))


class BrowserCodeForm(Form):
    """The code emailed after the right password from a browser the account does not trust."""

    code = code_field()
    submit = SubmitField(_l("Finish signing in"))


# --- what the browser keeps between the steps -----------------------------------------------------


def _kept_request() -> CodeRequest | None:
    """The sign-in code this browser asked for, if its session holds a well-formed one."""
    kept: Any = session.get(REQUEST_KEY)
    if not (isinstance(kept, dict) and isinstance(kept.get("handle"), str)
            and isinstance(kept.get("email"), str) and isinstance(kept.get("at"), int)):
        return None
    return CodeRequest(handle=kept["handle"], email=kept["email"], asked_at=kept["at"])


def _keep_request(pending: CodeRequest) -> None:
    """Keep a request in the session (a new handle voids the code of the one before)."""
    session[REQUEST_KEY] = {"handle": pending.handle, "email": pending.email, "at": pending.asked_at}


def _kept_check() -> BrowserCheck | None:
    """The new-browser check this browser is in, if its session holds a well-formed one."""
    kept: Any = session.get(CHECK_KEY)
    if not (isinstance(kept, dict) and isinstance(kept.get("handle"), str)
            and isinstance(kept.get("user"), int) and isinstance(kept.get("email"), str)
            and isinstance(kept.get("remember"), bool) and isinstance(kept.get("at"), int)):
        return None
    return BrowserCheck(handle=kept["handle"], user_id=kept["user"], email=kept["email"],
                        remember=kept["remember"], asked_at=kept["at"])


def _keep_check(check: BrowserCheck, target: str) -> None:
    """Keep a check in the session, with the local page to open once it is passed."""
    session[CHECK_KEY] = {"handle": check.handle, "user": check.user_id, "email": check.email,
                          "remember": check.remember, "at": check.asked_at,
                          "next": target if is_safe_next(target) else ""}


def _check_target() -> str:
    """The local page to open once the check is passed ("" for the home page)."""
    kept: Any = session.get(CHECK_KEY)
    target = kept.get("next") if isinstance(kept, dict) else None
    return target if isinstance(target, str) else ""


# --- replies ---------------------------------------------------------------------------------------


def _client() -> str:
    """The client's address, as every limit and session record takes it."""
    return get_remote_address() or ""


def _already_in() -> ResponseReturnValue:
    """A signed-in browser has nothing to do here: its account page."""
    home = url_for("account.index")
    return json_reply(200, _(ALREADY_IN), {"next": home}) if wants_json() else redirect(home)


def _not_pending(message: str, endpoint: str) -> ResponseReturnValue:
    """No code is pending in this browser: where to start."""
    if wants_json():
        return json_reply(400, _(message), {"field": "code", "next": url_for(endpoint)})
    return redirect_with(_(message), url_for(endpoint), "info")


def _signed_in_reply(target: str) -> Response:
    """The reply once signed in (its device cookie is set by the use case): JSON, or a redirect."""
    if not (target and is_safe_next(target)):
        target = url_for("main.index")
    return json_reply(200, _("Signed in."), {"next": target}) if wants_json() else redirect(target)


def _timings(asked_at: int) -> dict[str, int]:
    """The pending code's lifetime left and resend wait, in seconds."""
    return {"expires_in": signin_codes.expires_in(asked_at),
            "resend_after": signin_codes.resend_after(asked_at)}


def ask_for_browser_code(check: BrowserCheck, target: str) -> ResponseReturnValue:
    """After the right password from a new browser: keep the check and ask for its emailed code."""
    _keep_check(check, target)
    page = url_for("signin.new_browser")
    if wants_json():
        return json_reply(202, _(CHECK_SENT, email=check.email),
                          {"next": page, "email": check.email, "reason": "new_browser",
                           **_timings(check.asked_at)})
    return redirect(page)


def check_refused(form: LoginForm, error: Problem) -> ResponseReturnValue:
    """The right password, but no code could be sent (budget, code store): beside the password."""
    status, message, data = describe(error)
    if wants_json():
        return json_reply(status, message, {**data, "field": "password"})
    form.password.errors.append(message)
    return render_template("auth/login.html", form=form), status


# --- sign-in by emailed code ------------------------------------------------------------------------


def _request_page(form: CodeRequestForm, status: int) -> ResponseReturnValue:
    """The page asking for an address."""
    return render_template("auth/signin_code_request.html", form=form), status


def _code_requested(pending: CodeRequest, message: str, status: int) -> ResponseReturnValue:
    """The one reply to every request for a code, whatever the address: JSON, or the code page."""
    _keep_request(pending)
    page = url_for("signin.enter_code")
    if wants_json():
        return json_reply(status, message,
                          {"next": page, "email": pending.email, **_timings(pending.asked_at)})
    return redirect(page)


@bp.route("/auth/login/email", methods=["GET", "POST"])
@guarded
def request_code() -> ResponseReturnValue:
    """Take an address and queue a sign-in code for it; every address gets the same reply."""
    if current_user.is_authenticated:
        return _already_in()
    form = CodeRequestForm(formdata=submitted()) if request.method == "POST" else CodeRequestForm()
    if form.validate_on_submit():
        try:
            pending = signin_codes.request_code(form.email.data or "", _client(), _kept_request())
        except PROBLEMS as error:
            status, message, data = describe(error)
            if wants_json():
                return json_reply(status, message, {**data, "field": "email"})
            form.email.errors.append(message)
            return _request_page(form, status)
        return _code_requested(pending, _(CODE_SENT, email=pending.email,
                                          lifetime=duration(signin_codes.policy().ttl)), 202)
    if wants_json() and request.method == "POST":
        return json_form_error(form)
    return _request_page(form, 400 if form.errors else 200)


def _code_page(form: SignInCodeForm, pending: CodeRequest) -> ResponseReturnValue:
    """The page asking for the emailed code, with its countdowns and the answer to its last form."""
    return render_template("auth/signin_code.html", form=form, email=pending.email, said=said(CODE_PAGE),
                           lifetime=signin_codes.policy().ttl, **_timings(pending.asked_at))


def _refused(error: Problem, page: str) -> ResponseReturnValue:
    """A refused code or resend: JSON naming the code field, or back to its page with the answer in
    the form's status area (post/redirect/get: a reload or Back never posts again)."""
    status, message, data = describe(error)
    if wants_json():
        return json_reply(status, message, {**data, "field": "code"})
    return say(message, page)


def _unfilled(form: Form, page: str, shown: Callable[[], ResponseReturnValue]) -> ResponseReturnValue:
    """A code form not validated: on a GET its page, else the first error as JSON or said on the page."""
    if request.method != "POST":
        return shown()
    return json_form_error(form) if wants_json() else say(first_error(form)[1], page)


@bp.route("/auth/login/code", methods=["GET", "POST"])
@private
@guarded
def enter_code() -> ResponseReturnValue:
    """Type the emailed code: this browser is signed in (the code works only where it was asked for)."""
    if current_user.is_authenticated:
        return _already_in()
    pending = _kept_request()
    if pending is None:
        return _not_pending(NOTHING_PENDING, "signin.request_code")
    form = SignInCodeForm(formdata=submitted()) if request.method == "POST" else SignInCodeForm()
    if not form.validate_on_submit():
        return _unfilled(form, CODE_PAGE, lambda: _code_page(form, pending))
    remember = bool(form.remember.data)
    response = _signed_in_reply("")
    try:
        user = signin_codes.sign_in_with_code(pending, form.code.data or "", user_agent(), _client(),
                                              remember, response)
    except PROBLEMS as error:
        return _refused(error, CODE_PAGE)
    session.pop(REQUEST_KEY, None)
    login_user(user, remember=remember)
    return response


@bp.route("/auth/login/code/resend", methods=["GET", "POST"])
@private
def resend_code() -> ResponseReturnValue:
    """Queue a new code for the same address, after the cooldown; the same reply for every address
    (a GET, from a reload or a copied address, only shows the code page)."""
    if current_user.is_authenticated:
        return _already_in()
    pending = _kept_request()
    if pending is None:
        return _not_pending(NOTHING_PENDING, "signin.request_code")
    if request.method == "GET":
        return redirect(url_for(CODE_PAGE), 303)
    try:
        renewed = signin_codes.request_code(pending.email, _client(), pending)
    except PROBLEMS as error:
        return _refused(error, CODE_PAGE)
    if wants_json():
        return _code_requested(renewed, _(NEW_CODE_SENT, email=renewed.email), 202)
    _keep_request(renewed)
    return say(_(NEW_CODE_SENT, email=renewed.email), CODE_PAGE, "info")


# --- the new-browser check ------------------------------------------------------------------------


def _check_page(form: BrowserCodeForm, check: BrowserCheck) -> ResponseReturnValue:
    """The page asking a new browser for the code emailed after its right password."""
    return render_template("auth/new_browser.html", form=form, email=check.email, said=said(CHECK_PAGE),
                           lifetime=signin_codes.policy().ttl, **_timings(check.asked_at))


@bp.route("/auth/login/new-browser", methods=["GET", "POST"])
@private
@guarded
def new_browser() -> ResponseReturnValue:
    """Type the code emailed after the right password: the session starts and this browser is trusted."""
    if current_user.is_authenticated:
        return _already_in()
    check = _kept_check()
    if check is None:
        return _not_pending(CHECK_MISSING, "auth.login")
    form = BrowserCodeForm(formdata=submitted()) if request.method == "POST" else BrowserCodeForm()
    if not form.validate_on_submit():
        return _unfilled(form, CHECK_PAGE, lambda: _check_page(form, check))
    response = _signed_in_reply(_check_target())
    try:
        user = signin_codes.finish_check(check, form.code.data or "", user_agent(), _client(), response)
    except PROBLEMS as error:
        return _refused(error, CHECK_PAGE)
    session.pop(CHECK_KEY, None)
    login_user(user, remember=check.remember)
    return response


@bp.route("/auth/login/new-browser/resend", methods=["GET", "POST"])
@private
def resend_check() -> ResponseReturnValue:
    """Email a new code for the check, after the cooldown (a GET only shows the check's page)."""
    if current_user.is_authenticated:
        return _already_in()
    check = _kept_check()
    if check is None:
        return _not_pending(CHECK_MISSING, "auth.login")
    if request.method == "GET":
        return redirect(url_for(CHECK_PAGE), 303)
    try:
        renewed = signin_codes.resend_check(check, user_agent(), _client())
    except PROBLEMS as error:
        return _refused(error, CHECK_PAGE)
    _keep_check(renewed, _check_target())
    if wants_json():
        return json_reply(202, _(NEW_CHECK_SENT, email=renewed.email),
                          {"next": url_for(CHECK_PAGE), "email": renewed.email,
                           **_timings(renewed.asked_at)})
    return say(_(NEW_CHECK_SENT, email=renewed.email), CHECK_PAGE, "info")


# --- the account's sign-in settings ----------------------------------------------------------------


def _switch(fields: MultiDict[str, str], name: str) -> bool:
    """A checkbox's state: present with a true value (a form's "1", JSON's "true")."""
    return fields.get(name, "").strip().lower() in TRUE_VALUES


@bp.post("/account/signin")
@login_required
@guarded
def settings() -> ResponseReturnValue:
    """Turn sign-in by emailed code and the new-browser check on or off for this account."""
    fields = submitted()
    user = signed_in()
    signin_codes.save_settings(user, _switch(fields, "signin_codes"), _switch(fields, "new_browser_check"))
    return done(_(SETTINGS_SAVED), {"signin_codes": user.signin_codes,
                                    "new_browser_check": signin_codes.browser_check_on(user)})
