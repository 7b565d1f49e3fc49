"""Who receives announcements: confirmed, subscribed users, and the unsubscribe link that stops them."""

from __future__ import annotations

import hmac
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from flask_mailroom.compose import check_header_value, split_address
from flask_mailroom.errors import MailError
from flask_mailroom.queue import OutboxMessage
from sqlalchemy import Boolean, ColumnElement, String, cast, exists, func, literal, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql._typing import ColumnExpressionArgument
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from mailroom.domain.errors import DomainError, TokenInvalid
from mailroom.extensions import db
from mailroom.models import User

# What new_unsubscribe_token makes (URL-safe base64), bounded by the column's width.
TOKEN_MAX = 64
TOKEN_ALPHABET = "A-Za-z0-9_-"  # noqa: S105  (a character set, not a secret)
TOKEN_SHAPE = re.compile(rf"[{TOKEN_ALPHABET}]{{1,{TOKEN_MAX}}}")
# What makes a stored field suspect (it may not fit in a copy): a character that ends a header line
# as Python's email package reads one, in any field; in an address, a character or a shape no plain
# address has. NUL is left out: PostgreSQL text cannot hold it, and the forms refuse it.
LINE_BREAKS = "\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029"
ODD_IN_ADDRESS = "\t <>,;\"()[]\\:"
ODD_SHAPES = ("%..%", "%@-%", "%-.%", "%@.%", "%.")


class holds_any(FunctionElement[bool]):  # noqa: N801  (an SQL function, named like one)
    """SQL: whether a text holds any of some characters, in one scan (a regular expression on
    PostgreSQL, GLOB on SQLite); built by ``_holds_any``."""

    type = Boolean()
    inherit_cache = True


@compiles(holds_any, "postgresql")
def _holds_any_postgresql(element: holds_any, compiler: SQLCompiler, **kw: Any) -> str:
    """``text ~ '[...]'``."""
    text, pattern, _ = element.clauses
    return f"({compiler.process(text, **kw)} ~ {compiler.process(pattern, **kw)})"


@compiles(holds_any, "sqlite")
def _holds_any_sqlite(element: holds_any, compiler: SQLCompiler, **kw: Any) -> str:
    """``text GLOB '*[...]*'``."""
    text, _, pattern = element.clauses
    return f"({compiler.process(text, **kw)} GLOB {compiler.process(pattern, **kw)})"


def _holds_any(column: ColumnExpressionArgument[str], characters: str) -> holds_any:
    """Whether ``column`` holds any of ``characters`` (patterns for each database as bound values)."""
    regex = "[" + "".join("\\" + c if c in "]\\^-[" else c for c in characters) + "]"
    glob = "*[" + ("]" if "]" in characters else "") + characters.replace("]", "") + "]*"
    return holds_any(column, literal(regex), literal(glob))


def _holds_other_than(column: ColumnExpressionArgument[str], allowed: str) -> holds_any:
    """Whether ``column`` holds a character outside ``allowed`` (a bracket set such as "A-Z_-")."""
    return holds_any(column, literal(f"[^{allowed}]"), literal(f"*[^{allowed}]*"))


@dataclass(frozen=True)
class Recipient:
    """What personalising one copy needs to know about its reader."""

    id: int
    username: str
    email: str
    unsubscribe_token: str
    language: str | None = None
    timezone: str | None = None


def as_recipient(user: User) -> Recipient:
    """The personalisation fields of a user."""
    return Recipient(user.id, user.username, user.email, user.unsubscribe_token, user.language,
                     user.timezone)


def eligible() -> ColumnElement[bool]:
    """Who receives announcements: confirmed addresses that did not unsubscribe."""
    return User.email_confirmed.is_(True) & User.subscribed.is_(True)


def count_recipients() -> int:
    """How many users an announcement sent now would reach."""
    return int(db.session.scalar(select(func.count()).select_from(User).where(eligible())) or 0)


def copy_key_prefix(announcement_id: int) -> str:
    """What the key of every copy of an announcement starts with (the user's id follows)."""
    return f"announcement:{announcement_id}:user:"


def copy_key(announcement_id: int, user_id: int) -> str:
    """The key that lets each user hold at most one copy of an announcement in the outbox (the same
    as ``announcements.dedupe_key``)."""
    return f"{copy_key_prefix(announcement_id)}{user_id}"


def usable(recipient: Recipient) -> bool:
    """Whether the recipient's stored name, address and token can go into a copy (the fan-out skips
    the others, so they are not counted as people a send reaches)."""
    try:
        check_header_value("To", recipient.username)
        check_header_value("To", recipient.email)
        split_address((recipient.username, recipient.email))
    except (DomainError, MailError, ValueError):
        return False
    return bool(TOKEN_SHAPE.fullmatch(recipient.unsubscribe_token))


def _without_copy(announcement_id: int) -> ColumnElement[bool]:
    """Users who hold no copy of the announcement yet (previews carry no key, so they do not count)."""
    key = literal(copy_key_prefix(announcement_id)) + cast(User.id, String)
    return ~exists().where(OutboxMessage.dedupe_key == key)


def _suspect() -> ColumnElement[bool]:
    """Users whose stored name, address or token may not fit in a copy (a character that breaks a
    header line or an address, an address without "@"): only these are read and checked in full,
    as every stored address was checked when it was written."""
    odd: list[ColumnElement[bool]] = [_holds_any(User.username, LINE_BREAKS),
                                      _holds_other_than(User.unsubscribe_token, TOKEN_ALPHABET)]
    odd += [_holds_any(User.email, LINE_BREAKS + ODD_IN_ADDRESS)]
    odd += [User.email.like(shape) for shape in ODD_SHAPES]
    return or_(*odd, ~User.email.like("%_@_%"), ~User.unsubscribe_token.like("_%"),
               func.length(User.unsubscribe_token) > TOKEN_MAX)


def readers_by_language(announcement_id: int) -> dict[str | None, int]:
    """Who a send of the announcement started now would reach (eligible, a usable address, no copy
    yet), counted by the language each reads: counted by the database, less the suspect rows that
    fail the fan-out's checks (read one by one; there are few)."""
    reached = (eligible(), _without_copy(announcement_id))
    by_language = select(User.language, func.count()).where(*reached).group_by(User.language)
    counts: Counter[str | None] = Counter({lang: int(n) for lang, n in db.session.execute(by_language)})
    suspects = select(User.id, User.username, User.email, User.unsubscribe_token, User.language)
    for row in db.session.execute(suspects.where(*reached, _suspect())):
        reader = Recipient(*row)
        if not usable(reader):
            counts[reader.language] -= 1
    return {language: count for language, count in counts.items() if count > 0}


def still_subscribed(user_id: int) -> bool:
    """Whether the user still exists and still wants announcements."""
    return bool(db.session.scalar(select(User.subscribed).where(User.id == user_id)))


def _subscriber(token: str) -> User:
    """The user an unsubscribe token belongs to, or TokenInvalid."""
    if not TOKEN_SHAPE.fullmatch(token):
        raise TokenInvalid("unknown unsubscribe link")
    user: User | None = db.session.scalar(select(User).where(User.unsubscribe_token == token))
    # The lookup is by index; the constant-time comparison guards against case-folding collations.
    if user is None or not hmac.compare_digest(user.unsubscribe_token.encode(), token.encode()):
        raise TokenInvalid("unknown unsubscribe link")
    return user


def check_token(token: str) -> None:
    """Raise TokenInvalid unless the unsubscribe token belongs to someone; changes nothing."""
    _subscriber(token)
    db.session.commit()


def subscription(token: str) -> tuple[str, bool]:
    """The address an unsubscribe token belongs to and whether it still gets announcements (for the
    unsubscribe page), or TokenInvalid; changes nothing."""
    user = _subscriber(token)
    found = (user.email, bool(user.subscribed))
    db.session.commit()
    return found


def set_subscribed(token: str, subscribed: bool) -> tuple[str, bool]:
    """Stop (or resume) announcements for the owner of the token; account email is unaffected.
    The owner's address, and whether it was already so (for the page that tells it)."""
    user = _subscriber(token)
    already = bool(user.subscribed) == subscribed
    user.subscribed = subscribed
    address = user.email
    db.session.commit()
    return address, already
