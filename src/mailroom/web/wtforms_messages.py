"""The messages of WTForms and Flask-WTF that Mailroom's forms can show, in our own catalogues.

WTForms ships translations for a generic "zh" and "zh_TW" only; ours are written for each
audience like every other string, and this list makes ``pybabel extract`` carry them.
"""

from __future__ import annotations

from mailroom.domain.errors import N_


def Nn_(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802  (a gettext-style marker)
    """Mark a singular/plural pair for extraction."""
    return singular, plural


MESSAGES = (
    N_("This field is required."),
    N_("Invalid input."),
    N_("Invalid email address."),
    N_("Invalid URL."),
    N_("Field must be equal to %(other_name)s."),
    N_("Field must be between %(min)d and %(max)d characters long."),
    N_("Number must be at least %(min)s."),
    N_("Number must be at most %(max)s."),
    N_("Number must be between %(min)s and %(max)s."),
    N_("Invalid value, must be one of: %(values)s."),
    N_("Invalid value, can't be any of: %(values)s."),
    N_("Not a valid choice."),
    N_("Invalid Choice: could not coerce."),
    N_("Not a valid integer value."),
    N_("Not a valid decimal value."),
    N_("Not a valid float value."),
    N_("Not a valid datetime value."),
    N_("Not a valid date value."),
    N_("Not a valid time value."),
    N_("This field cannot be edited."),
    N_("This field is disabled and cannot have a value."),
    # Flask-WTF's CSRF reasons, shown on the error page.
    N_("The CSRF token is missing."),
    N_("The CSRF session token is missing."),
    N_("The CSRF token has expired."),
    N_("The CSRF token is invalid."),
    N_("The CSRF tokens do not match."),
    N_("CSRF validation failed."),
)

PLURALS = (
    Nn_("Field must be at least %(min)d character long.",
        "Field must be at least %(min)d characters long."),
    Nn_("Field cannot be longer than %(max)d character.",
        "Field cannot be longer than %(max)d characters."),
    Nn_("Field must be exactly %(max)d character long.",
        "Field must be exactly %(max)d characters long."),
)
