"""Choosing a language: the menu on every page (a cookie, and the account when signed in), and
the account page's language and time zone preferences."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_babel import refresh
from flask_login import current_user, login_required
from wtforms import StringField
from wtforms.validators import DataRequired, Length, ValidationError

from mailroom.domain.addresses import is_safe_next
from mailroom.domain.languages import TIMEZONE_MAX, known_locale, known_timezone
from mailroom.i18n import _, remember_choice
from mailroom.models import User
from mailroom.services import accounts
from mailroom.web.errors import error_response
from mailroom.web.forms import Form

bp = Blueprint("language", __name__)


def one_of_our_languages(form: Any, field: Any) -> None:
    """Refuse anything but en, zh_Hans and zh_Hant."""
    if known_locale(field.data) is None:
        raise ValidationError(_l("Choose one of the languages offered."))


def known_zone(form: Any, field: Any) -> None:
    """Refuse a time zone the tz database does not know."""
    if known_timezone(field.data) is None:
        raise ValidationError(_l("Choose one of the time zones offered."))


class MenuForm(Form):
    """The language menu: one button per language."""

    language = StringField(validators=[DataRequired(), Length(max=16), one_of_our_languages])


class PreferencesForm(MenuForm):
    """The account page's choice of language and time zone."""

    timezone = StringField(validators=[DataRequired(), Length(max=TIMEZONE_MAX), known_zone])


def _back() -> str:
    """Where the menu returns to: the page it was used on, when that is a local path."""
    target = request.form.get("next")
    return target if target and is_safe_next(target) else url_for("main.index")


def _user() -> User:
    """The signed-in user as a model instance."""
    user = current_user._get_current_object()
    assert isinstance(user, User)
    return user


def _refused(form: Form) -> ResponseReturnValue:
    """400 naming the first invalid field."""
    field, messages = next(iter(form.errors.items()))
    return error_response(400, str(messages[0]), field=field)


@bp.post("/language")
def choose() -> ResponseReturnValue:
    """Switch language from the menu: kept in a cookie, and on the account when signed in."""
    form = MenuForm()
    if not form.validate():
        return _refused(form)
    language = str(form.language.data)
    if current_user.is_authenticated:
        accounts.set_language(_user(), language, _user().timezone)
    return remember_choice(redirect(_back()), language)


@bp.post("/account/language")
@login_required
def preferences() -> ResponseReturnValue:
    """Store the account's language and time zone from the account page."""
    form = PreferencesForm()
    if not form.validate():
        return _refused(form)
    language = str(form.language.data)
    accounts.set_language(_user(), language, str(form.timezone.data))
    refresh()
    flash(_("Your language and time zone are saved."), "success")
    return remember_choice(redirect(url_for("account.index")), language)
