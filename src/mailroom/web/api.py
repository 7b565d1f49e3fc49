"""JSON twins of the account pages for single-page clients (CSRF token in ``X-CSRFToken``)."""

from __future__ import annotations

from flask import Blueprint, Response, request, url_for
from flask_babel import lazy_gettext as _l
from flask_limiter.util import get_remote_address
from flask_login import current_user
from werkzeug.datastructures import MultiDict
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from mailroom.domain.errors import N_, TokenExpired, TokenInvalid
from mailroom.domain.tokens import MAX_TOKEN_LENGTH
from mailroom.i18n import _
from mailroom.services import reset
from mailroom.web.http import private
from mailroom.web.replies import MESSAGES, json_form_error, json_reply
from mailroom.web.reset import (
    RESET_DONE,
    ResetPasswordForm,
    ResetRequestForm,
    link_problem_message,
    link_sent_message,
)

bp = Blueprint("api", __name__, url_prefix="/api")

SIGNED_IN = N_("You are signed in: change your password from your account page.")


class ApiResetRequestForm(ResetRequestForm):
    """The reset request, read from JSON; CSRF was checked from the header already."""

    class Meta:
        csrf = False


class ApiResetPasswordForm(ResetPasswordForm):
    """The new password and the link's token, read from JSON."""

    class Meta:
        csrf = False

    token = StringField(_l("Token"), validators=[DataRequired(message=_l("The reset token is missing.")),
                                             Length(max=MAX_TOKEN_LENGTH)])


class BodyError(Exception):
    """The request body is not a JSON object of strings; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def json_fields(*names: str) -> MultiDict[str, str]:
    """The named string fields of a JSON object body, refusing any other shape."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BodyError("", _("Send a JSON object (Content-Type: application/json)."))
    for name in names:
        if name in body and not isinstance(body[name], str):
            raise BodyError(name, _("This field must be a string."))
    return MultiDict({name: body[name] for name in names if name in body})


def body_error(error: BodyError) -> Response:
    """A 400 naming the field whose value has the wrong type."""
    errors = {error.field: error.message} if error.field else {}
    return json_reply(400, error.message, {"field": error.field, "errors": errors})


@bp.post("/auth/reset_password_request")
@private
def reset_password_request() -> Response:
    """``{email}``: the same 202 for every address; the link goes out only to an account."""
    if current_user.is_authenticated:
        return json_reply(403, _(SIGNED_IN))
    try:
        form = ApiResetRequestForm(formdata=json_fields("email"))
    except BodyError as error:
        return body_error(error)
    if not form.validate():
        return json_form_error(form)
    reset.request_reset(form.email.data or "", get_remote_address())
    return json_reply(202, link_sent_message())


@bp.post("/auth/reset_password")
@private
def reset_password() -> Response:
    """``{token, password, password2}``: set the password; the token's problem is named."""
    if current_user.is_authenticated:
        return json_reply(403, _(SIGNED_IN))
    try:
        form = ApiResetPasswordForm(formdata=json_fields("token", "password", "password2"))
    except BodyError as error:
        return body_error(error)
    if not form.validate():
        return json_form_error(form)
    try:
        reset.reset_password(form.token.data or "", form.password.data or "", get_remote_address())
    except (TokenExpired, TokenInvalid) as error:
        reason, _title, message = link_problem_message(error)
        return json_reply(400, message, {"field": "token", "reason": reason,
                                         "errors": {"token": message}})
    except reset.TooManyAttempts:
        return json_reply(429, _(MESSAGES[429]))
    return json_reply(200, _(RESET_DONE), {"login": url_for("auth.login")})
