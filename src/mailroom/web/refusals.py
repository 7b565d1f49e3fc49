"""What each refusal a use case raises means over HTTP: its status, its words and its data."""

from __future__ import annotations

from typing import Any

from mailroom.domain.codes import CodeMalformed, LockedOut
from mailroom.domain.errors import (
    N_,
    CodeError,
    CodeExhausted,
    CodeExpired,
    CodeMismatch,
    CooldownActive,
)
from mailroom.i18n import _, _n, explain
from mailroom.i18n import wait as format_wait
from mailroom.services import codes
from mailroom.services.accounts import AccountError

UNAVAILABLE = N_("Verification codes are unavailable right now because our code store cannot be "
               "reached. Nothing was sent or changed; please try again in a few minutes.")
NEW_CODE_IN = N_("You can ask for a new code in {wait}.")
LOCKED_NEW_CODE_IN = N_("Too many wrong codes: you can ask for a new code in {wait}.")

Problem = AccountError | CodeError | codes.BudgetSpent | codes.CodeStoreUnavailable
PROBLEMS = (AccountError, CodeError, codes.BudgetSpent, codes.CodeStoreUnavailable)
Described = tuple[int, str, dict[str, Any]]


def wait_sentence(pending: codes.PendingCode | None) -> str:
    """The sentence under a "send code" button while it waits ({wait} is filled in, live)."""
    return LOCKED_NEW_CODE_IN if pending is not None and pending.locked else NEW_CODE_IN


def describe(error: Problem, wait: int = 0) -> Described:
    """Status, message and data (without the field) for each refusal a use case raises; ``wait`` is
    the resend wait after a code was used up by wrong tries."""
    if isinstance(error, AccountError):
        return 400, error.message, {"field": error.field}
    if isinstance(error, codes.CodeStoreUnavailable):
        return 503, _(UNAVAILABLE), {"reason": "unavailable"}
    if isinstance(error, codes.BudgetSpent):
        message = _("Too many emails have been sent to %(email)s in the last hour. "
                    "Nothing was sent; please try again later.", email=error.address)
        return 429, message, {"reason": "budget"}
    if isinstance(error, CooldownActive):
        return _cooldown(error)
    data: dict[str, Any] = {"field": "code", **_attempts(error)}
    if used_up(error) and wait:
        data.update(reason="locked", resend_after=wait, wait_text=_(LOCKED_NEW_CODE_IN))
    return 400, _code_message(error, wait), data


def _cooldown(error: CooldownActive) -> Described:
    """429 with the seconds to wait, worded as every wait on the page is."""
    sentence = _(LOCKED_NEW_CODE_IN if isinstance(error, LockedOut) else NEW_CODE_IN)
    return 429, sentence.format(wait=format_wait(error.retry_after)), {
        "reason": "locked" if isinstance(error, LockedOut) else "cooldown",
        "resend_after": error.retry_after, "wait_text": sentence}


def used_up(error: Problem) -> bool:
    """Whether wrong tries voided the code (the last try, or one after it)."""
    return isinstance(error, CodeExhausted) or (isinstance(error, CodeMismatch) and not error.attempts_left)


def _code_message(error: CodeError, wait: int) -> str:
    """What to tell someone whose code was refused."""
    if used_up(error):
        then = _(LOCKED_NEW_CODE_IN).format(wait=format_wait(wait)) if wait else _("Ask for a new code.")
        return _("That code is not right and it no longer works. %(then)s", then=then)
    if isinstance(error, CodeMismatch):
        return _n("That code is not right: %(num)d try left.", "That code is not right: %(num)d tries left.",
                  error.attempts_left)
    if isinstance(error, CodeExpired):
        return _("This code has expired or was already used. Ask for a new code.")
    if isinstance(error, CodeMalformed):
        return explain(error)
    return _("That code cannot be used. Ask for a new code.")


def _attempts(error: CodeError) -> dict[str, int]:
    """The tries left, when the error knows them."""
    return {"attempts_left": error.attempts_left} if isinstance(error, CodeMismatch) else {}
