"""Forms with CSRF, speaking the page's language, and validators that every text field shares."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_babel import get_translations
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import ImmutableMultiDict, MultiDict
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from mailroom.domain.addresses import (
    MAX_EMAIL_LENGTH,
    USERNAME_MAX,
    has_control_characters,
    normalize_username,
)
from mailroom.domain.bodies import has_unreadable_characters
from mailroom.domain.common_passwords import is_common
from mailroom.domain.errors import AddressInvalid, UsernameInvalid
from mailroom.i18n import explain
from mailroom.services.accounts import normalize_address
from mailroom.services.passwords import MAX_LENGTH, MIN_LENGTH


class CatalogueTranslations:
    """WTForms' own messages ("This field is required.") from Mailroom's catalogues."""

    def gettext(self, string: str) -> str:
        """The message in the page's language (WTForms fills in its placeholders itself)."""
        return str(get_translations().ugettext(string))

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """The singular or plural message in the page's language."""
        return str(get_translations().ungettext(singular, plural, n))


TRANSLATIONS = CatalogueTranslations()


class Form(FlaskForm):
    """Every Mailroom form: CSRF from Flask-WTF, messages from our catalogues."""

    class Meta:
        """Where WTForms finds its translations."""

        def get_translations(self, form: Any) -> CatalogueTranslations:
            """Our catalogues, whatever WTF_I18N_ENABLED says."""
            return TRANSLATIONS

        def wrap_formdata(self, form: Any, formdata: Any) -> Any:
            """A JSON body's string fields (another type counts as missing), so it gets a 400, not a 500."""
            if _implicit(formdata) and form.is_submitted() and request.is_json and not request.form:
                return ImmutableMultiDict(json_text_fields(request.get_json(silent=True)))
            # WTForms builds the meta class from every Meta in the hierarchy: super() is Flask-WTF's.
            return super().wrap_formdata(form, formdata)  # type: ignore[misc]


def _implicit(formdata: Any) -> bool:
    """Whether the form was made without formdata, to read the request's own."""
    return formdata is not None and not isinstance(formdata, MultiDict)


def json_text_fields(body: Any) -> dict[str, str]:
    """A JSON object's fields whose values are strings; anything else in the body is left out."""
    return {str(k): v for k, v in body.items() if isinstance(v, str)} if isinstance(body, dict) else {}


def no_control_characters(form: Any, field: Any) -> None:
    """Refuse CR, LF, NUL and other control characters, and broken encoding, in any text field."""
    if not isinstance(field.data, str):
        return
    if has_control_characters(field.data):
        raise ValidationError(_l("This field cannot contain control characters."))
    if has_unreadable_characters(field.data):
        raise ValidationError(_l("This field holds characters that are not valid text (U+FFFD)."))


def valid_email(form: Any, field: Any) -> None:
    """Refuse addresses that are not syntactically valid, saying why."""
    try:
        normalize_address(field.data or "")
    except AddressInvalid as error:
        raise ValidationError(explain(error)) from None


def valid_username(form: Any, field: Any) -> None:
    """Refuse usernames under 2 characters or with characters other than letters, digits, _ - ."""
    try:
        normalize_username(field.data or "")
    except UsernameInvalid as error:
        raise ValidationError(explain(error)) from None


def email_field(label: Any = None) -> EmailField:
    """An address field with the shared rules."""
    length = Length(max=MAX_EMAIL_LENGTH, message=_l("Use at most %(max)d characters."))
    return EmailField(label or _l("Email"),
                      validators=[DataRequired(), length, no_control_characters, valid_email])


def not_common(form: Any, field: Any) -> None:
    """Refuse the passwords people choose most often: they are the first an attacker tries."""
    if isinstance(field.data, str) and is_common(field.data):
        raise ValidationError(_l("This is one of the most common passwords, the first ones anyone "
                                 "guessing tries. Choose another."))


def new_password_field(label: Any = None) -> PasswordField:
    """A new password: 8 to 1,024 characters, not a common one, long passphrases kept whole."""
    length = Length(min=MIN_LENGTH, max=MAX_LENGTH, message=_l("Use %(min)d to %(max)d characters."))
    return PasswordField(label or _l("Password"),
                         validators=[DataRequired(), length, no_control_characters, not_common])


def repeat_password_field(label: Any = None) -> PasswordField:
    """The repetition of ``password``, which must match it."""
    return PasswordField(label or _l("Repeat password"), validators=[
        DataRequired(), Length(max=MAX_LENGTH), EqualTo("password", message=_l("Passwords must match."))])


def current_password_field(label: Any = None) -> PasswordField:
    """An existing password: only bounded, never judged by the new-password rules."""
    return PasswordField(label or _l("Password"), validators=[DataRequired(), Length(max=MAX_LENGTH),
                                                              no_control_characters])


class RegistrationForm(Form):
    """Sign up; the time zone comes from the browser (filled in by a script), the language from the page."""

    username = StringField(_l("Username"), validators=[
        DataRequired(), Length(max=USERNAME_MAX * 4), no_control_characters, valid_username])
    email = email_field()
    password = new_password_field()
    password2 = repeat_password_field()
    timezone = HiddenField(validators=[Length(max=64), no_control_characters])
    submit = SubmitField(_l("Register"))


class LoginForm(Form):
    """Sign in with a username or an email address."""

    identifier = StringField(_l("Username or email"), validators=[
        DataRequired(), Length(max=MAX_EMAIL_LENGTH), no_control_characters])
    password = current_password_field()
    remember = BooleanField(_l("Remember me"))
    next = HiddenField()
    submit = SubmitField(_l("Sign in"))
