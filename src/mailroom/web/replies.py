"""Every reply a view gives: the one JSON shape, form errors, redirects with a flash, and the
account cards' answers (JSON to AJAX, else a 303 to the account page at the card)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any

from flask import Response, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from werkzeug.wrappers.response import Response as BaseResponse

from mailroom.domain.addresses import is_safe_next
from mailroom.domain.errors import N_
from mailroom.i18n import _
from mailroom.web.account_page import answer, card_view
from mailroom.web.http import BadField, signed_in, wants_json
from mailroom.web.refusals import Problem, describe

FALLBACK = N_("Error.")
MESSAGES = {
    400: N_("The request could not be understood."),
    403: N_("You do not have access to this page."),
    404: N_("There is nothing here."),
    405: N_("That method is not allowed here."),
    413: N_("What you sent is too large."),
    429: N_("Too many requests. Please wait a moment and try again."),
    500: N_("Something went wrong on our side. It has been reported."),
    503: N_("A service this page needs is unavailable. Please try again shortly."),
}


def json_reply(code: int, message: str, data: Mapping[str, Any] | None = None) -> Response:
    """The one JSON shape: ``{"code", "message", "data"}`` with the HTTP status equal to code."""
    response = jsonify({"code": code, "message": str(message), "data": dict(data or {})})
    response.status_code = code
    return response


def form_errors(form: FlaskForm) -> dict[str, str]:
    """The first error of each invalid field, keyed by field name."""
    return {name: str(messages[0]) for name, messages in form.errors.items() if messages}


def first_error(form: FlaskForm) -> tuple[str, str]:
    """The first invalid field and its message."""
    return next(iter(form_errors(form).items()), ("", _("Invalid input.")))


def json_form_error(form: FlaskForm) -> Response:
    """A 400 JSON reply naming the first invalid field and listing all of them."""
    field, message = first_error(form)
    return json_reply(400, message, {"field": field, "errors": form_errors(form)})


def error_response(code: int, message: str | None = None,
                   field: str | None = None) -> ResponseReturnValue:
    """Render an error as JSON or HTML, depending on what the client asked for."""
    # Messages given by views are msgids too (marked N_ where they are written).
    text = str(_(message or MESSAGES.get(code, FALLBACK)))
    if wants_json():
        return json_reply(code, text, {"field": field} if field is not None else None)
    return render_template("errors/error.html", code=code, message=text), code


def refused_form(form: FlaskForm) -> ResponseReturnValue:
    """400 naming the first invalid field, as JSON or as the error page."""
    field, message = first_error(form)
    return error_response(400, message, field=field)


def redirect_next(default_endpoint: str) -> BaseResponse:
    """Redirect to the ``next`` parameter when it is a local path, else to a default page."""
    target = request.args.get("next") or request.form.get("next")
    if target and is_safe_next(target):
        return redirect(target)
    return redirect(url_for(default_endpoint))


def redirect_with(message: str, url: str, category: str = "success") -> BaseResponse:
    """Flash a message for the next page and redirect there."""
    flash(message, category)
    return redirect(url)


# --- the account cards -----------------------------------------------------------------------


def problem(status: int, message: str, data: Mapping[str, Any],
            default_field: str | None = None) -> ResponseReturnValue:
    """A refusal: JSON naming the field, or a 303 to the card with the message kept for it."""
    details = dict(data)
    if default_field and "field" not in details:
        details["field"] = default_field
    if wants_json():
        return json_reply(status, message, details)
    field = details.get("field")
    return answer("danger", message, {field: message} if field else None)


def refuse(error: Problem, default_field: str | None = None,
           purpose: str | None = None) -> ResponseReturnValue:
    """The reply for a refusal raised by a use case; when it leaves a ``purpose`` code no longer
    pending (void, expired), the code's new state comes with it so the card shows only that."""
    status, message, data = describe(error)
    state = card_view(purpose, signed_in()) if purpose else None
    if state is not None and state["state"] != "pending":
        data = {**data, "code": state}
    return problem(status, message, data, default_field)


def invalid_form(form: FlaskForm) -> ResponseReturnValue:
    """400 naming the first invalid field (JSON), or a 303 to the card with every field's error."""
    if wants_json():
        return json_form_error(form)
    return answer("danger", first_error(form)[1], form_errors(form))


def done(message: str, data: Mapping[str, Any]) -> ResponseReturnValue:
    """Success: JSON for AJAX, else a 303 to the card with the message kept for it."""
    if wants_json():
        return json_reply(200, message, data)
    return answer("success", message)


def guarded(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
    """Turn a non-string JSON field into a 400 naming it."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        """Call the view, answering BadField."""
        try:
            return view(*args, **kwargs)
        except BadField as error:
            return problem(400, _("This field must be text."), {"field": error.field})

    return wrapped
