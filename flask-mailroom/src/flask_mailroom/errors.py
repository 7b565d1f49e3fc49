"""Typed failures of the mail core, so a host maps each to its own message."""

from __future__ import annotations

__all__ = ["AddressInvalid", "HeaderInjection", "MailError"]


class MailError(Exception):
    """Base of every refusal of the mail core; ``message`` with ``params`` lets a host translate it."""

    def __init__(self, message: str = "", **params: object) -> None:
        """``message`` is an English sentence with ``%(name)s`` placeholders filled from ``params``."""
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


class AddressInvalid(MailError):
    """An email address cannot be put in a message or an SMTP envelope."""


class HeaderInjection(MailError):
    """A header value carries CR or LF, which would let it forge headers."""
