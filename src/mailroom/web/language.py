"""Choosing a language: the menu on every page (a cookie, and the account when signed in), and
the account page's language and time zone preferences."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from flask_babel import refresh
from flask_login import current_user, login_required
from wtforms import StringField
from wtforms.validators import DataRequired, Length, ValidationError

from mailroom.domain.addresses import is_safe_next
from mailroom.domain.languages import TIMEZONE_MAX, known_locale, known_timezone
from mailroom.i18n import _, remember_choice
from mailroom.services import accounts
from mailroom.web.account_page import answer
from mailroom.web.forms import Form
from mailroom.web.http import signed_in
from mailroom.web.replies import invalid_form, refused_form

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


@bp.post("/language")
def choose() -> ResponseReturnValue:
    """Switch language from the menu: kept in a cookie, and on the account when signed in."""
    form = MenuForm()
    if not form.validate():
        return refused_form(form)
    language = str(form.language.data)
    if current_user.is_authenticated:
        accounts.set_language(signed_in(), language, signed_in().timezone)
    return remember_choice(redirect(_back()), language)


@bp.post("/account/language")
@login_required
def preferences() -> ResponseReturnValue:
    """Store the account's language and time zone from the account page."""
    form = PreferencesForm()
    if not form.validate():
        return invalid_form(form)
    language = str(form.language.data)
    accounts.set_language(signed_in(), language, str(form.timezone.data))
    refresh()
    saved = answer("success", _("Your language and time zone are saved."))
    return remember_choice(saved, language)
