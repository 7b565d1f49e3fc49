"""Rules for email addresses, user-visible text and redirect targets."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from mailroom.domain.errors import N_, AddressInvalid, UsernameInvalid

MAX_EMAIL_LENGTH = 254
USERNAME_MIN = 2
USERNAME_MAX = 64
USERNAME_PUNCTUATION = frozenset("_-.")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def has_control_characters(text: str) -> bool:
    """Tell whether text holds control characters (CR, LF, NUL, ...), which no field accepts."""
    return _CONTROL.search(text) is not None


NON_ASCII_LOCAL = N_("This address has characters outside ASCII before the @, which our mail server "
                     "cannot deliver to. Please use an address with only ASCII letters, digits and "
                     "punctuation before the @.")


# Our own sentences for what the address library refuses: its English never reaches a page.
NO_SPACES = N_("Not a valid email address: it cannot contain spaces.")
# The full-width at sign of Chinese and Japanese keyboards looks like @ but is another character.
FULL_WIDTH_AT = N_("Not a valid email address: use the ordinary @ sign, not the full-width ＠.")  # noqa: RUF001
NO_AT = N_("Not a valid email address: it needs an @ between the name and the domain, as in "
           "name@example.com.")
ONE_AT = N_("Not a valid email address: it can have only one @.")
NOTHING_BEFORE_AT = N_("Not a valid email address: something must come before the @.")
NOTHING_AFTER_AT = N_("Not a valid email address: a domain must come after the @, as in example.com.")
BAD_CHARACTERS = N_("Not a valid email address: the characters %(characters)s cannot stand before the @.")
LOCAL_TOO_LONG = N_("Not a valid email address: the part before the @ has at most %(count)d characters.")
DOTS = N_("Not a valid email address: dots and hyphens cannot start or end it, stand at either side "
          "of the @ or follow each other.")
BAD_DOMAIN = N_("Not a valid email address: the domain after the @ is not valid (it should look like "
                "example.com).")
INVALID = N_("Not a valid email address.")
LOCAL_MAX = 64
# How the address library words a misplaced dot or hyphen (the only use of its English: to choose ours).
_DOT_SLIPS = ("cannot start with", "cannot end with", "in a row", "next to each other", "immediately")
# What may stand before the @ unquoted (RFC 5322 atext and the dot); other ASCII is refused by name.
_LOCAL_ASCII = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~.")


def _check_shape(text: str) -> None:
    """Refuse the common slips (a space, a missing, doubled or full-width @) in our own words."""
    if any(char.isspace() for char in text):
        raise AddressInvalid(NO_SPACES)
    if "@" not in text:
        raise AddressInvalid(FULL_WIDTH_AT if "\uff20" in text or "\ufe6b" in text else NO_AT)
    if text.count("@") > 1:
        raise AddressInvalid(ONE_AT)
    local, domain = text.split("@")
    if not local:
        raise AddressInvalid(NOTHING_BEFORE_AT)
    if not domain:
        raise AddressInvalid(NOTHING_AFTER_AT)


def _refusal(text: str, reason: str) -> AddressInvalid:
    """Our sentence for a refusal of the address library (its ``reason`` is English, for us only)."""
    local = text.split("@")[0]
    bad = sorted({char for char in local if char.isascii() and char not in _LOCAL_ASCII})
    if bad:
        return AddressInvalid(BAD_CHARACTERS, characters=" ".join(bad))
    if "too long before" in reason:
        return AddressInvalid(LOCAL_TOO_LONG, count=LOCAL_MAX)
    if any(words in reason for words in _DOT_SLIPS):
        return AddressInvalid(DOTS)
    return AddressInvalid(BAD_DOMAIN if "after the @" in reason.lower() else INVALID)


def normalize_email(raw: str, smtputf8: bool = False) -> str:
    """Return the canonical form of an address, or raise AddressInvalid saying why.

    The domain is always in its ASCII (IDNA) form, as it is stored and sent. A local part
    outside ASCII needs a relay that speaks SMTPUTF8, so it is refused unless ``smtputf8``.
    """
    text = raw.strip()
    if not text:
        raise AddressInvalid(N_("Enter an email address."))
    if len(text) > MAX_EMAIL_LENGTH:
        raise AddressInvalid(N_("An email address has at most %(count)d characters."),
                             count=MAX_EMAIL_LENGTH)
    if has_control_characters(text):
        raise AddressInvalid(N_("An email address cannot contain control characters."))
    if "=?" in text:
        # RFC 2047 encoded-words are not allowed in an addr-spec; clients that decode them
        # anyway would show the reader a different address from the one mail goes to.
        raise AddressInvalid(N_("An email address cannot contain an encoded word (=?...?=)."))
    _check_shape(text)
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as error:
        raise _refusal(text, str(error)) from None
    if result.ascii_email:
        return str(result.ascii_email)
    if not smtputf8:
        raise AddressInvalid(NON_ASCII_LOCAL)
    return f"{result.local_part}@{result.ascii_domain}"


def email_key(address: str) -> str:
    """The case-insensitive identity of an address, used for uniqueness and look-ups."""
    return unicodedata.normalize("NFC", address.strip()).casefold()


def username_key(username: str) -> str:
    """The case-insensitive identity of a username."""
    return unicodedata.normalize("NFKC", username.strip()).casefold()


def _username_character(char: str, previous: str | None) -> bool:
    """Letters and digits of any script, ``_ - .``, and marks that follow a letter (Devanagari, Thai)."""
    category = unicodedata.category(char)
    if category[0] == "L" or category == "Nd" or char in USERNAME_PUNCTUATION:
        return True
    return category[0] == "M" and previous is not None and unicodedata.category(previous)[0] in "LM"


def normalize_username(raw: str) -> str:
    """The NFKC form of a username (陈伟, Zoë; full-width letters become plain ones), or UsernameInvalid."""
    name = unicodedata.normalize("NFKC", raw.strip())
    if not USERNAME_MIN <= len(name) <= USERNAME_MAX or len(name.casefold()) > USERNAME_MAX:
        raise UsernameInvalid(N_("Use %(min)d to %(max)d characters."), min=USERNAME_MIN, max=USERNAME_MAX)
    previous: str | None = None
    for char in name:
        if not _username_character(char, previous):
            raise UsernameInvalid(N_("Use letters, digits, dots, dashes and underscores."))
        previous = char
    return name


def is_safe_next(target: str | None) -> bool:
    """Accept only a local absolute path, refusing //host, /\\host, schemes and control characters."""
    if not target or not target.startswith("/"):
        return False
    if has_control_characters(target) or "\\" in target:
        return False
    if target.startswith("//"):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc
