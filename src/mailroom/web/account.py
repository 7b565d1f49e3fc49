"""The account page: address status, confirmation by code, change of address by code, revert link.

Every POST here answers JSON to AJAX (a JSON body or ``Accept: application/json``) and HTML
to plain forms; the CSRF token comes in the ``X-CSRFToken`` header or the form field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, logout_user
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional

from mailroom.domain.addresses import MAX_EMAIL_LENGTH
from mailroom.domain.codes import CodeMalformed, LockedOut
from mailroom.domain.errors import (
    N_,
    CodeError,
    CodeExhausted,
    CodeExpired,
    CodeMismatch,
    CooldownActive,
    TokenExpired,
    TokenInvalid,
)
from mailroom.domain.waits import format_wait
from mailroom.extensions import limiter
from mailroom.i18n import _, _n, duration, explain
from mailroom.models import User
from mailroom.services import codes, confirmation, deliverability, email_change
from mailroom.services.accounts import AccountError
from mailroom.services.preferences import set_announcements
from mailroom.web.forms import Form, current_password_field, email_field, no_control_characters
from mailroom.web.http import form_errors, json_reply, private, wants_json

bp = Blueprint("account", __name__, url_prefix="/account")

# A re-authentication endpoint is a password oracle for whoever holds a session: bound it.
SEND_CODE_LIMIT = "20 per hour"
UNAVAILABLE = N_("Verification codes are unavailable right now because our code store cannot be "
               "reached. Nothing was sent or changed; please try again in a few minutes.")
Problem = AccountError | CodeError | codes.BudgetSpent | codes.CodeStoreUnavailable
PROBLEMS = (AccountError, CodeError, codes.BudgetSpent, codes.CodeStoreUnavailable)
# Which form of the page an endpoint's errors belong beside.
SECTIONS = {"account.send_email_code": "send", "account.change_email": "change",
            "account.confirm_email": "confirm", "account.resend_confirmation": "confirm",
            "account.change_password": "password"}


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


class BadField(Exception):
    """A JSON body field that is not a string."""

    def __init__(self, field: str) -> None:
        super().__init__(field)
        self.field = field


def _user_key() -> str:
    """Rate-limit key: the signed-in user, else the client address."""
    user_id = getattr(current_user, "id", None)
    return f"user:{user_id}" if user_id else get_remote_address()


def _user() -> User:
    """The signed-in user as a model instance."""
    user = current_user._get_current_object()
    assert isinstance(user, User)
    return user


def submitted() -> MultiDict[str, str]:
    """The fields of a form post or of a JSON object body (string values only)."""
    if not request.is_json:
        return request.form
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400, N_("Send a JSON object."))
    for name, value in body.items():
        if not isinstance(value, str):
            raise BadField(str(name))
    return MultiDict(body)


# --- replies -----------------------------------------------------------------------------------


# Which code an endpoint redeems, to tell the wait after it is used up.
PURPOSES = {"account.change_email": email_change.PURPOSE, "account.confirm_email": confirmation.PURPOSE}
NEW_CODE_IN = N_("You can ask for a new code in {wait}.")
LOCKED_NEW_CODE_IN = N_("Too many wrong codes: you can ask for a new code in {wait}.")


def wait_sentence(pending: codes.PendingCode | None) -> str:
    """The sentence under a "send code" button while it waits ({wait} is filled in, live)."""
    return LOCKED_NEW_CODE_IN if pending is not None and pending.locked else NEW_CODE_IN


def describe(error: Problem, wait: int = 0) -> tuple[int, str, dict[str, Any]]:
    """Status, message and data (without the field) for each refusal a use case raises; ``wait`` is
    the resend wait after a code was used up by wrong tries."""
    if isinstance(error, AccountError):
        return 400, error.message, {"field": error.field}
    if isinstance(error, codes.CodeStoreUnavailable):
        return 503, _(UNAVAILABLE), {"reason": "unavailable"}
    if isinstance(error, codes.BudgetSpent):
        message = _("Too many emails have been sent to %(email)s in the last hour. "
                    "Nothing was sent; please try again later.", email=error.address)
        return 429, message, {"reason": "budget"}
    if isinstance(error, CooldownActive):
        return _cooldown(error)
    data: dict[str, Any] = {"field": "code", **_attempts(error)}
    if used_up(error) and wait:
        data.update(reason="locked", resend_after=wait, wait_text=_(LOCKED_NEW_CODE_IN))
    return 400, _code_message(error, wait), data


def _cooldown(error: CooldownActive) -> tuple[int, str, dict[str, Any]]:
    """429 with the seconds to wait, worded as every wait on the page is."""
    sentence = _(LOCKED_NEW_CODE_IN if isinstance(error, LockedOut) else NEW_CODE_IN)
    return 429, sentence.format(wait=format_wait(error.retry_after)), {
        "reason": "locked" if isinstance(error, LockedOut) else "cooldown",
        "resend_after": error.retry_after, "wait_text": sentence}


def used_up(error: CodeError) -> bool:
    """Whether wrong tries voided the code (the last try, or one after it)."""
    return isinstance(error, CodeExhausted) or (isinstance(error, CodeMismatch) and not error.attempts_left)


def _code_message(error: CodeError, wait: int) -> str:
    """What to tell someone whose code was refused."""
    if used_up(error):
        then = _(LOCKED_NEW_CODE_IN).format(wait=format_wait(wait)) if wait else _("Ask for a new code.")
        return _("That code is not right and it no longer works. %(then)s", then=then)
    if isinstance(error, CodeMismatch):
        return _n("That code is not right: %(num)d try left.", "That code is not right: %(num)d tries left.",
                  error.attempts_left)
    if isinstance(error, CodeExpired):
        return _("This code has expired or was already used. Ask for a new code.")
    if isinstance(error, CodeMalformed):
        return explain(error)
    return _("That code cannot be used. Ask for a new code.")


def _attempts(error: CodeError) -> dict[str, int]:
    """The tries left, when the error knows them."""
    return {"attempts_left": error.attempts_left} if isinstance(error, CodeMismatch) else {}


def problem(status: int, message: str, data: Mapping[str, Any],
            default_field: str | None) -> ResponseReturnValue:
    """A refusal: JSON naming the field, or the account page with the message beside it."""
    details = dict(data)
    if default_field and "field" not in details:
        details["field"] = default_field
    if wants_json():
        return json_reply(status, message, details)
    field = details.get("field")
    return render_page({field: message} if field else {}, message if not field else None), status


def refuse(error: Problem, default_field: str | None = None) -> ResponseReturnValue:
    """The reply for a refusal raised by a use case; for a code used up by wrong tries, the wait
    before a new one (from the same source as the page's countdown)."""
    wait = 0
    purpose = PURPOSES.get(request.endpoint or "")
    if purpose and isinstance(error, CodeError) and used_up(error):
        pending = codes.pending(purpose, _user().id)
        wait = pending.resend_after if pending else 0
    status, message, data = describe(error, wait)
    return problem(status, message, data, default_field)


def invalid_form(form: FlaskForm) -> ResponseReturnValue:
    """400 naming the first invalid field (JSON) or showing every error beside its field."""
    errors = form_errors(form)
    field, message = next(iter(errors.items()), ("", _("Invalid input.")))
    if wants_json():
        return json_reply(400, message, {"field": field, "errors": errors})
    return render_page(errors), 400


def done(message: str, data: Mapping[str, Any]) -> ResponseReturnValue:
    """Success: JSON for AJAX, else a flash and a redirect to the account page."""
    if wants_json():
        return json_reply(200, message, dict(data))
    flash(message, "success")
    return redirect(url_for("account.index"))


def guarded(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """Turn a non-string JSON field into a 400 naming it."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        """Call the view, answering BadField."""
        try:
            return view(*args, **kwargs)
        except BadField as error:
            return problem(400, _("This field must be text."), {"field": error.field}, None)

    return wrapped


# --- the page ----------------------------------------------------------------------------------


def page_state() -> dict[str, Any]:
    """What the account page shows about pending codes, or that the code store is down."""
    user = _user()
    try:
        return {"change": email_change.pending(user), "confirm": confirmation.pending(user),
                "codes_down": False}
    except codes.CodeStoreUnavailable:
        return {"change": None, "confirm": None, "codes_down": True}


def render_page(errors: Mapping[str, str] | None = None, alert: str | None = None) -> str:
    """The account page, with errors beside the fields of the form that was sent."""
    return render_template("account/index.html", errors=errors or {}, alert=alert,
                           bounced=deliverability.bounced(_user()),
                           values={"email": request.form.get("email", "")},
                           section=SECTIONS.get(request.endpoint or ""), wait_sentence=wait_sentence,
                           **page_state())


@bp.get("/")
@login_required
def index() -> str:
    """The signed-in user's address, its confirmation state and account actions."""
    return render_page()


@bp.post("/email/try-again")
@login_required
def try_again() -> ResponseReturnValue:
    """The owner says their address works again: mail it again (a new bounce stops it anew)."""
    if deliverability.try_again(_user()):
        flash(f"We will send mail to {_user().email} again.", "success")
    return redirect(url_for("account.index"))


# --- change of address -------------------------------------------------------------------------


@bp.post("/email/code")
@login_required
@limiter.limit(SEND_CODE_LIMIT, key_func=_user_key)
@guarded
def send_email_code() -> ResponseReturnValue:
    """Check the password and the new address, then email a code there (AJAX: JSON in and out)."""
    form = SendCodeForm(formdata=submitted())
    if not form.validate():
        return invalid_form(form)
    try:
        issued = email_change.request_code(_user(), form.email.data or "", form.password.data or "")
    except PROBLEMS as error:
        return refuse(error, "email")
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
    user = _user()
    try:
        old = email_change.change_address(user, form.code.data or "", form.email.data)
    except PROBLEMS as error:
        return refuse(error, "code")
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
        confirmation.confirm(_user(), form.code.data or "")
    except PROBLEMS as error:
        return refuse(error, "code")
    return done(_("Thank you: your address is confirmed."), {"email": _user().email, "confirmed": True})


@bp.post("/confirm/resend")
@login_required
def resend_confirmation() -> ResponseReturnValue:
    """Email a new confirmation code, after the cooldown."""
    try:
        issued = confirmation.resend(_user())
    except PROBLEMS as error:
        return refuse(error, "code")
    return done(_("We sent a new code to %(email)s.", email=issued.email),
                {"email": issued.email, "resend_after": issued.resend_after,
                 "expires_in": issued.expires_in})


# --- email preferences ---------------------------------------------------------------------------


@bp.post("/preferences")
@login_required
def preferences() -> ResponseReturnValue:
    """Subscribe to announcements or stop them (account emails are not affected)."""
    wanted = request.form.get("announcements") == "1"
    set_announcements(_user(), wanted)
    flash(_("You will receive announcements.") if wanted else
          _("You will no longer receive announcements. Account emails still reach you."), "success")
    return redirect(url_for("account.index") + "#preferences")


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
    flash(_("Your address is %(email)s again and every session is signed out. "
                  "Choose a new password to sign in.", email=user.email), "success")
    return redirect(_after_revert())


@bp.post("/email/revert/<token>/keep")
@private
def keep_new_email(token: str) -> ResponseReturnValue:
    """The change was the owner's: release the old address now instead of at the link's expiry."""
    try:
        claim = email_change.release_old_address(token)
    except (TokenExpired, TokenInvalid) as error:
        return link_problem(error)
    flash(_("Thank you. %(email)s is no longer kept for your account.", email=claim.old_email), "success")
    return redirect(url_for("main.index"))


def _after_revert() -> str:
    """Where to go next: the reset request page if it is installed, else sign-in."""
    if "auth.reset_password_request" in current_app.view_functions:
        return url_for("auth.reset_password_request")
    return url_for("auth.login")
