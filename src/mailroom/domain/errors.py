"""Typed failures of the domain rules, so callers map each to its own message."""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802  (the gettext convention for "mark, do not translate yet")
    """Mark a message for translation where it is written; it is translated where it is shown."""
    return message


class DomainError(Exception):
    """Base of every rule the domain refuses; ``message`` and ``params`` let the web layer translate it.

    ``message`` is an English msgid with ``%(name)s`` placeholders filled from ``params``.
    """

    def __init__(self, message: str = "", **params: object) -> None:
        super().__init__(message % params if params else message)
        self.message = message
        self.params = params


class TokenError(DomainError):
    """A signed token cannot be used."""


class TokenExpired(TokenError):
    """The token was genuine but its lifetime has passed."""


class TokenInvalid(TokenError):
    """The token is malformed, tampered, foreign, for another purpose or already used."""


class CodeError(DomainError):
    """A verification code cannot be accepted."""


class CodeMismatch(CodeError):
    """The code does not match; ``attempts_left`` more tries remain."""

    def __init__(self, attempts_left: int) -> None:
        super().__init__(f"wrong code, {attempts_left} attempts left")
        self.attempts_left = attempts_left


class CodeExpired(CodeError):
    """No live code: it expired, was used, or was never sent."""


class CodeExhausted(CodeError):
    """Too many wrong tries: the code is void."""


class CooldownActive(CodeError):
    """A new code was asked for too soon; ``retry_after`` seconds remain."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"try again in {retry_after} s")
        self.retry_after = retry_after


class AddressInvalid(DomainError):
    """An email address is malformed or not allowed."""


class UsernameInvalid(DomainError):
    """A username is too short, too long or holds characters usernames may not have."""
