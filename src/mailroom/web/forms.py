"""Forms with CSRF, and validators that every text field shares."""

from __future__ import annotations

import re
from typing import Any

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp, ValidationError

from mailroom.domain.addresses import MAX_EMAIL_LENGTH, has_control_characters
from mailroom.domain.bodies import has_unreadable_characters
from mailroom.domain.errors import AddressInvalid
from mailroom.models.user import USERNAME_MAX
from mailroom.services.accounts import normalize_address
from mailroom.services.passwords import MAX_LENGTH, MIN_LENGTH

USERNAME_PATTERN = re.compile(r"^[\w.\-]+$")


def no_control_characters(form: Any, field: Any) -> None:
    """Refuse CR, LF, NUL and other control characters, and broken encoding, in any text field."""
    if not isinstance(field.data, str):
        return
    if has_control_characters(field.data):
        raise ValidationError("This field cannot contain control characters.")
    if has_unreadable_characters(field.data):
        raise ValidationError("This field holds characters that are not valid text (U+FFFD).")


def valid_email(form: Any, field: Any) -> None:
    """Refuse addresses that are not syntactically valid, saying why."""
    try:
        normalize_address(field.data or "")
    except AddressInvalid as error:
        raise ValidationError(str(error)) from None


def email_field(label: str = "Email") -> EmailField:
    """An address field with the shared rules."""
    length = Length(max=MAX_EMAIL_LENGTH, message=f"Use at most {MAX_EMAIL_LENGTH} characters.")
    return EmailField(label, validators=[DataRequired(), length, no_control_characters, valid_email])


def new_password_field(label: str = "Password") -> PasswordField:
    """A new password: 8 to 1,024 characters, long passphrases kept whole."""
    length = Length(min=MIN_LENGTH, max=MAX_LENGTH,
                    message=f"Use {MIN_LENGTH} to {MAX_LENGTH:,} characters.")
    return PasswordField(label, validators=[DataRequired(), length, no_control_characters])


def repeat_password_field(label: str = "Repeat password") -> PasswordField:
    """The repetition of ``password``, which must match it."""
    return PasswordField(label, validators=[DataRequired(), Length(max=MAX_LENGTH),
                                            EqualTo("password", message="Passwords must match.")])


def current_password_field(label: str = "Password") -> PasswordField:
    """An existing password: only bounded, never judged by the new-password rules."""
    return PasswordField(label, validators=[DataRequired(), Length(max=MAX_LENGTH),
                                            no_control_characters])


class RegistrationForm(FlaskForm):
    """Sign up."""

    username = StringField("Username", validators=[
        DataRequired(), Length(min=3, max=USERNAME_MAX, message=f"Use 3 to {USERNAME_MAX} characters."),
        no_control_characters,
        Regexp(USERNAME_PATTERN, message="Use letters, digits, dots, dashes and underscores."),
    ])
    email = email_field()
    password = new_password_field()
    password2 = repeat_password_field()
    submit = SubmitField("Register")


class LoginForm(FlaskForm):
    """Sign in with a username or an email address."""

    identifier = StringField("Username or email", validators=[
        DataRequired(), Length(max=MAX_EMAIL_LENGTH), no_control_characters])
    password = current_password_field()
    remember = BooleanField("Remember me")
    next = HiddenField()
    submit = SubmitField("Sign in")
