"""Per-address delivery state: the worker's pre-send screening, what an outcome does to the row
and the address (account bodies dropped, refused recipients bounced), suppressions and their events.

The rules live in ``domain.suppression``; this module reads and writes the tables. The worker calls
``screen_batch`` once per batch before sending and ``settle`` on every outcome it records.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from blinker import Namespace
from flask import current_app
from sqlalchemy import ARRAY, Connection, String, any_, bindparam, case, delete, func, literal, select
from sqlalchemy.exc import IntegrityError

from flask_mailroom.models.deliverability import MailEvent, Suppression
from flask_mailroom.models.outbox import BULK, TRANSACTIONAL, OutboxMessage, OutboxStatus
from flask_mailroom.rules import suppression as rules
from flask_mailroom.rules.suppression import Screening, Verdict
from flask_mailroom.store import db
from flask_mailroom.store import now as _now

log = logging.getLogger(__name__)
SUPPRESSIONS = Suppression.__table__

TABLE = OutboxMessage.__table__
STREAMS = {TRANSACTIONAL: rules.ACCOUNT, BULK: rules.BULK}
# Outcomes after which a message will not be sent again: an account body has done its job.
FINAL = frozenset({OutboxStatus.SENT.value, OutboxStatus.FAILED.value, OutboxStatus.EXPIRED.value,
                   OutboxStatus.SUPPRESSED.value})
# Event kinds of the per-address timeline.
BOUNCE_HARD = "bounce_hard"
BOUNCE_SOFT = "bounce_soft"
COMPLAINT = "complaint"
SKIPPED = "skipped"
LIFTED = "lifted"
SUPPRESSED = "suppressed"

signals = Namespace()
# Sent with ``address`` when a complaint arrives, so the application can unsubscribe its owner.
complained = signals.signal("mailroom-complained")


def key_of(address: str) -> str:
    """How an address is looked up: stripped and lower-cased."""
    return address.strip().lower()


# --- the worker's screening ------------------------------------------------------------------


@dataclass(frozen=True)
class BatchScreen:
    """The verdict for each row of a batch that must not go out as claimed (absent: send as is)."""

    verdicts: dict[int, Screening] = field(default_factory=dict)

    def of(self, row_id: int) -> Screening | None:
        """The screening of a row, or None when it goes out unchanged."""
        return self.verdicts.get(row_id)


# Suppressions a claim looked up beside the rows it took: row id -> (the row's stored address key,
# the scope of that key's suppression or None).
LookedUp = Mapping[int, tuple[str | None, str | None]]


def suppressed_scopes(connection: Connection, addresses: Sequence[str]) -> dict[str, str]:
    """Scope of the suppression of each of ``addresses`` that has one, by lower-cased address."""
    keys = sorted({key_of(a) for a in addresses})
    if not keys:
        return {}
    if connection.dialect.name == "postgresql":
        # One array parameter: the statement is compiled once, whatever the number of addresses.
        wanted = SUPPRESSIONS.c.address_key == any_(bindparam("keys", type_=ARRAY(String)))
        query = select(SUPPRESSIONS.c.address_key, SUPPRESSIONS.c.scope).where(wanted)
        return {key: scope for key, scope in connection.execute(query, {"keys": keys})}
    query = (select(SUPPRESSIONS.c.address_key, SUPPRESSIONS.c.scope)
             .where(SUPPRESSIONS.c.address_key.in_(keys)))
    return {key: scope for key, scope in connection.execute(query)}


def exact_lookups(rows: Sequence[Any], looked_up: LookedUp) -> dict[str, str | None]:
    """The suppression scopes a claim looked up by each row's stored address key, kept only where
    that key is the lookup key of the row's one recipient (a row with several recipients, or
    stored under another key, is looked up again): key -> scope, None when not suppressed."""
    exact: dict[str, str | None] = {}
    for row in rows:
        stored, scope = looked_up.get(row.id, (None, None))
        if stored is not None and len(row.recipients) == 1 and key_of(row.recipients[0]) == stored:
            exact[stored] = scope
    return exact


def screen_batch(connection: Connection, rows: Sequence[Any], now: datetime,
                 looked_up: LookedUp | None = None) -> BatchScreen:
    """One query for a whole claim, in the claim's own transaction (which recipients are
    suppressed), none for the addresses the claim looked up already (``looked_up``: row id ->
    stored address key and its scope); each claimed row brings its kind and expiry."""
    if not rows:
        return BatchScreen()
    known = exact_lookups(rows, looked_up or {})
    others = [a for r in rows for a in r.recipients if key_of(a) not in known]
    scopes = {key: scope for key, scope in known.items() if scope is not None}
    scopes.update(suppressed_scopes(connection, others))
    verdicts = {}
    for row in rows:
        stream, expires = STREAMS.get(row.kind, rules.ACCOUNT), row.expires_at
        found = rules.screen(stream, row.recipients, expires, now, scopes)
        if found.verdict is not Verdict.SEND or len(found.recipients) != len(row.recipients):
            verdicts[row.id] = found
    return BatchScreen(verdicts)


def withheld_values(found: Screening) -> dict[str, Any]:
    """The outcome of a row that is not sent: expired or suppressed, with the reason."""
    status = OutboxStatus.EXPIRED if found.verdict is Verdict.EXPIRED else OutboxStatus.SUPPRESSED
    return {"status": status.value, "last_error": found.reason}


@cache
def drop_account_body() -> dict[str, Any]:
    """SQL for a final outcome: the body of an account email that carries a link or a code (it
    has an expiry) leaves the outbox; other bodies stay, so failed ones can be sent again."""
    return {"raw": case((TABLE.c.expires_at.is_not(None), literal(b"")), else_=TABLE.c.raw)}



def is_final(values: Mapping[str, Any]) -> bool:
    """Whether an outcome's values close the row for good."""
    return values.get("status") in FINAL


# --- bounces, complaints, suppressions -------------------------------------------------------


def soft_policy() -> rules.SoftBouncePolicy:
    """The configured soft-bounce rule."""
    config = current_app.config
    return rules.SoftBouncePolicy(threshold=int(config["MAIL_SOFT_BOUNCE_LIMIT"]),
                                  window=timedelta(days=int(config["MAIL_SOFT_BOUNCE_DAYS"])))


def _event(address: str, kind: str, source: str, detail: str | None, outbox_id: int | None,
           moment: datetime) -> MailEvent:
    """Add one event to the session."""
    event = MailEvent(address_key=key_of(address), kind=kind, source=source,
                      detail=(detail or "")[:2000] or None, outbox_id=outbox_id, occurred_at=moment)
    db.session.add(event)
    return event


def _suppress(address: str, scope: str, reason: str, detail: str | None, moment: datetime) -> None:
    """Add or widen the address's suppression (a bulk-only one becomes total after a bounce)."""
    found = db.session.scalar(select(Suppression).where(Suppression.address_key == key_of(address)))
    if found is None:
        db.session.add(Suppression(address_key=key_of(address), address=address.strip(), scope=scope,
                                   reason=reason, detail=(detail or "")[:2000] or None,
                                   created_at=moment))
    elif found.scope != scope and scope == rules.SCOPE_ALL:
        found.scope, found.reason, found.detail, found.created_at = scope, reason, detail, moment


def _last_lift(address: str) -> datetime | None:
    """When the address's suppression was last lifted, if ever."""
    return db.session.scalar(select(func.max(MailEvent.occurred_at)).where(
        MailEvent.address_key == key_of(address), MailEvent.kind == LIFTED))


def _soft_bounces_since(address: str, since: datetime | None) -> list[datetime]:
    """Times of the address's soft bounces after ``since``."""
    query = select(MailEvent.occurred_at).where(MailEvent.address_key == key_of(address),
                                                MailEvent.kind == BOUNCE_SOFT)
    if since is not None:
        query = query.where(MailEvent.occurred_at > since)
    return list(db.session.scalars(query))


def _apply_bounce(address: str, kind: str, detail: str | None, moment: datetime) -> None:
    """Suppress after a hard bounce, or once soft bounces reach the configured count."""
    if kind == rules.HARD:
        _suppress(address, rules.SCOPE_ALL, "hard bounce", detail, moment)
        return
    policy = soft_policy()
    if policy.suppresses(_soft_bounces_since(address, _last_lift(address)), moment):
        _suppress(address, rules.SCOPE_ALL, "soft bounces",
                  f"{policy.threshold} soft bounces within {policy.window.days} days", moment)


def record_bounce(address: str, kind: str, source: str, detail: str | None = None,
                  outbox_id: int | None = None, moment: datetime | None = None) -> None:
    """Record a hard or soft bounce and suppress when the rules say so (the caller commits)."""
    at = moment or _now()
    _event(address, BOUNCE_HARD if kind == rules.HARD else BOUNCE_SOFT, source, detail, outbox_id, at)
    db.session.flush()
    _apply_bounce(address, kind, detail, at)


def record_complaint(address: str, source: str, detail: str | None = None,
                     outbox_id: int | None = None, moment: datetime | None = None) -> None:
    """Record a complaint: no more bulk mail to the address (the caller commits)."""
    at = moment or _now()
    _event(address, COMPLAINT, source, detail, outbox_id, at)
    _suppress(address, rules.SCOPE_BULK, "complaint", detail, at)
    complained.send(current_app._get_current_object(), address=address)  # type: ignore[attr-defined]


def record_skip(address: str, reason: str, source: str) -> None:
    """Note that an email was asked for and not queued, and why (the caller commits)."""
    _event(address, SKIPPED, source, reason, None, _now())


def lift(address: str, by: str) -> bool:
    """Mail the address again; False when it was not suppressed. Commits."""
    result = db.session.execute(delete(Suppression).where(Suppression.address_key == key_of(address)))
    lifted = bool(getattr(result, "rowcount", 0))
    if lifted:
        _event(address, LIFTED, by, f"suppression lifted by {by}", None, _now())
    db.session.commit()
    return lifted


def suppression_of(address: str) -> Suppression | None:
    """The address's suppression, if any."""
    found: Suppression | None = db.session.scalar(
        select(Suppression).where(Suppression.address_key == key_of(address)))
    return found


def suppressions(limit: int = 200) -> list[Suppression]:
    """The most recent suppressions, newest first."""
    return list(db.session.scalars(select(Suppression).order_by(Suppression.created_at.desc(),
                                                                Suppression.id.desc()).limit(limit)))


def outbox_id_for(message_id: str | None) -> int | None:
    """The outbox row that sent the message with this Message-ID, if it is ours."""
    if not message_id:
        return None
    text = message_id.strip()
    wanted = text if text.startswith("<") else f"<{text}>"
    found: int | None = db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.message_id == wanted))
    return found


def record_refusals(outbox_id: int, refused: Mapping[str, tuple[int, str]], source: str) -> int:
    """Hard-bounce every recipient refused with 5xx at delivery; how many. Commits."""
    count = 0
    for address, (code, text) in refused.items():
        if rules.bounce_kind(code, text) == rules.HARD and 500 <= code < 600:
            record_bounce(address, rules.HARD, source, f"{code} {text}", outbox_id)
            count += 1
    try:
        db.session.commit()
    except IntegrityError:  # another worker suppressed the same address at the same moment
        db.session.rollback()
        log.info("suppression for message %s already recorded", outbox_id)
    return count
