"""Errors the account use cases raise, in a module of their own so the services share them
without importing each other."""

from __future__ import annotations


class AccountError(Exception):
    """A use case on accounts was refused; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
