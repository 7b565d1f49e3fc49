"""Trusted browsers (OWASP's device cookies): a browser that signed in to an account holds a token
for it, and the sign-in throttles aimed at guessers never stop that browser.

One cookie, ``mailroom_device``, holds up to ``MAX_TOKENS`` tokens ``<row id>.<secret>``, one per
account the browser signed in to, joined by ``~``. The table keeps only the SHA-256 of each
secret; a token counts when its row exists, belongs to the account, was used within
``LIFETIME`` and its secret hashes to the row's (compared in constant time). Deleting a row makes
its browser a stranger again: forgetting a browser, a new password and signing out everywhere do.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, has_request_context, request
from sqlalchemy import delete, select
from werkzeug.wrappers import Response

from mailroom.extensions import db
from mailroom.models import TrustedDevice, User
from mailroom.models.session import CLIENT_MAX, USER_AGENT_MAX
from mailroom.state import now

COOKIE = "mailroom_device"
MAX_TOKENS = 5
SEPARATOR = "~"
LIFETIME = timedelta(days=365)
# A longer cookie is not ours: MAX_TOKENS tokens take about 320 characters.
MAX_COOKIE_LENGTH = 1024
TOKEN = re.compile(r"([1-9][0-9]{0,17})\.([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class Token:
    """One token of the cookie: the row it names and the secret that proves it."""

    device_id: int
    secret: str

    def __str__(self) -> str:
        return f"{self.device_id}.{self.secret}"


def digest(secret: str) -> str:
    """What the table keeps of a secret: its SHA-256 (the secret itself is 256 random bits)."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def presented() -> list[Token]:
    """The well-formed tokens of the request's device cookie, oldest first (none outside a request)."""
    raw = request.cookies.get(COOKIE, "") if has_request_context() else ""
    if len(raw) > MAX_COOKIE_LENGTH:
        return []
    found = (TOKEN.fullmatch(part) for part in raw.split(SEPARATOR))
    return [Token(int(match[1]), match[2]) for match in found if match][-MAX_TOKENS:]


def _is_live(row: TrustedDevice) -> bool:
    """Whether the browser used the row recently enough for it to count."""
    return now() - row.last_used_at < LIFETIME


def _proves(token: Token, row: TrustedDevice) -> bool:
    """Whether the token's secret is the row's, compared in constant time."""
    return hmac.compare_digest(digest(token.secret), row.token_hash)


def _valid_rows(tokens: list[Token], user: User | None = None) -> dict[int, TrustedDevice]:
    """The live rows the tokens prove, by id; only ``user``'s when given."""
    if not tokens:
        return {}
    query = select(TrustedDevice).where(TrustedDevice.id.in_([token.device_id for token in tokens]))
    if user is not None:
        query = query.where(TrustedDevice.user_id == user.id)
    rows = {row.id: row for row in db.session.scalars(query)}
    return {token.device_id: rows[token.device_id] for token in tokens
            if token.device_id in rows and _proves(token, rows[token.device_id])
            and _is_live(rows[token.device_id])}


def this_browser(user: User) -> TrustedDevice | None:
    """The request's valid device for this account, without noting its use."""
    return next(iter(_valid_rows(presented(), user).values()), None)


def trusted_device(user: User) -> TrustedDevice | None:
    """The request's valid device for this account, its use noted (caller commits)."""
    device = this_browser(user)
    if device is not None:
        device.last_used_at = now()
    return device


def _cookie_secure() -> bool:
    """Secure when the site is served over https (as the session cookie is)."""
    return bool(current_app.config["SESSION_COOKIE_SECURE"])


def _set_cookie(response: Response, tokens: list[Token]) -> None:
    """Write the tokens into the cookie, for a year, readable by no script and sent by no other site."""
    response.set_cookie(COOKIE, SEPARATOR.join(str(token) for token in tokens),
                        max_age=int(LIFETIME.total_seconds()), httponly=True, samesite="Lax",
                        secure=_cookie_secure())


def _remember(device: TrustedDevice, user_agent: str, client: str) -> None:
    """Note a sign-in of the device: when, with which browser, from where."""
    device.last_used_at = now()
    device.user_agent = user_agent[:USER_AGENT_MAX]
    device.client_address = client[:CLIENT_MAX]


def _new_device(user: User, user_agent: str, client: str) -> tuple[TrustedDevice, Token]:
    """Add a row for a browser new to the account, and the token that proves it (flushed for its id)."""
    secret = secrets.token_urlsafe(32)
    moment = now()
    device = TrustedDevice(user_id=user.id, token_hash=digest(secret), created_at=moment,
                           last_used_at=moment, user_agent=user_agent[:USER_AGENT_MAX],
                           client_address=client[:CLIENT_MAX])
    db.session.add(device)
    db.session.flush()
    return device, Token(device.id, secret)


def trust_browser(user: User, response: Response, user_agent: str, client: str) -> TrustedDevice:
    """After a successful sign-in: trust this browser for the account and set its cookie (caller commits).

    A browser the account already trusts keeps its row and token; the cookie keeps the browser's
    other valid tokens, and the oldest beyond MAX_TOKENS are dropped and their rows forgotten.
    """
    tokens = presented()
    valid = _valid_rows(tokens)
    token = next((t for t in tokens if t.device_id in valid and valid[t.device_id].user_id == user.id), None)
    if token is not None:
        device = valid[token.device_id]
        _remember(device, user_agent, client)
    else:
        device, token = _new_device(user, user_agent, client)
    kept = list(dict.fromkeys([t for t in tokens if t.device_id in valid and t != token] + [token]))
    dropped = [t.device_id for t in kept[:-MAX_TOKENS]]
    if dropped:
        db.session.execute(delete(TrustedDevice).where(TrustedDevice.id.in_(dropped)))
    _set_cookie(response, kept[-MAX_TOKENS:])
    return device


def devices_of(user: User) -> list[TrustedDevice]:
    """The browsers the account trusts, the most recently used first."""
    rows = db.session.scalars(select(TrustedDevice).where(TrustedDevice.user_id == user.id)
                              .order_by(TrustedDevice.last_used_at.desc(), TrustedDevice.id.desc()))
    return [row for row in rows if _is_live(row)]


def forget(user: User, device_id: int) -> bool:
    """Forget one of the account's browsers; False when the account trusts no such browser."""
    result = db.session.execute(delete(TrustedDevice).where(
        TrustedDevice.id == device_id, TrustedDevice.user_id == user.id))
    db.session.commit()
    return bool(getattr(result, "rowcount", 0))


def forget_all(user: User) -> int:
    """Forget every browser the account trusts, voiding their cookies (caller commits); how many."""
    result = db.session.execute(delete(TrustedDevice).where(TrustedDevice.user_id == user.id))
    return int(getattr(result, "rowcount", 0) or 0)


def forget_every_browser(user: User) -> int:
    """The owner's "Forget all": every browser the account trusts becomes a stranger; how many."""
    count = forget_all(user)
    db.session.commit()
    return count
