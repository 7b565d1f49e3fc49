"""Rules for email addresses, user-visible text and redirect targets."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email

from mailroom.domain.errors import AddressInvalid

MAX_EMAIL_LENGTH = 254
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def has_control_characters(text: str) -> bool:
    """Tell whether text holds control characters (CR, LF, NUL, ...), which no field accepts."""
    return _CONTROL.search(text) is not None


NON_ASCII_LOCAL = ("This address has characters outside ASCII before the @, which our mail server "
                   "cannot deliver to. Please use an address with only ASCII letters, digits and "
                   "punctuation before the @.")


def normalize_email(raw: str, smtputf8: bool = False) -> str:
    """Return the canonical form of an address, or raise AddressInvalid saying why.

    The domain is always in its ASCII (IDNA) form, as it is stored and sent. A local part
    outside ASCII needs a relay that speaks SMTPUTF8, so it is refused unless ``smtputf8``.
    """
    text = raw.strip()
    if not text:
        raise AddressInvalid("Enter an email address.")
    if len(text) > MAX_EMAIL_LENGTH:
        raise AddressInvalid(f"An email address has at most {MAX_EMAIL_LENGTH} characters.")
    if has_control_characters(text):
        raise AddressInvalid("An email address cannot contain control characters.")
    if "=?" in text:
        # RFC 2047 encoded-words are not allowed in an addr-spec; clients that decode them
        # anyway would show the reader a different address from the one mail goes to.
        raise AddressInvalid("An email address cannot contain an encoded word (=?...?=).")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as error:
        raise AddressInvalid(f"Not a valid email address: {error}") from None
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
