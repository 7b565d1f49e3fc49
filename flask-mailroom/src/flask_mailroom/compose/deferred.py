"""Deferred emails: the request stores who and which email; the worker builds the message.

A use case that must answer fast and identically whatever the database holds (a reset request
must not tell whether an address has an account) queues a row naming a builder and a recipient
address, nothing else: no look-up, no token, no rendering in the request. The worker calls the
builder once, in one transaction that stores the finished message (so retries resend the same
bytes and Message-ID) or marks the row skipped when there is nothing to send.

A builder registered with ``each_attempt=True`` is never stored: the worker renders the message
again on every attempt from the row's parameters, with the row's Message-ID, the Date fixed when
the row was queued and MIME boundaries derived from the Message-ID, so every attempt sends the
same bytes. That is how an announcement is stored once: each copy's row keeps only what is
personal, queued in bulk with ``defer_many``.

A prepared builder (``Mail.register_prepared``) goes further: it answers with a ``Copy`` naming a
layout and the copy's own values, without rendering anything. The layout is rendered once per
worker process (``slot`` markers where the values go) and laid out as a ``Prepared`` message;
each copy is filled from it, at every attempt, or once and stored with the outcome of that
attempt (an account email whose values are new at each build, such as a link's token:
``each_attempt=False``; a crash mid-send fills it again). Its optional
screen is asked once per claimed batch which copies still go out (one query for the batch, not
one per copy).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import make_msgid
from functools import cache
from typing import Any, NamedTuple

from flask import current_app
from flask_mail import Message
from sqlalchemy import Update, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from flask_mailroom.compose import bulk_copy
from flask_mailroom.compose.message import message_id_domain
from flask_mailroom.compose.mime import bare_address, envelope_sender
from flask_mailroom.compose.outbox import finished_bytes, finished_fields
from flask_mailroom.compose.prepared import Prepared
from flask_mailroom.models.outbox import PRIORITY, TRANSACTIONAL, Claimed, OutboxMessage, OutboxStatus
from flask_mailroom.signals import dispatched
from flask_mailroom.store import db, now, state


@dataclass(frozen=True)
class Skip:
    """A builder's answer when there is nothing to send, and why (shown to the admin only)."""

    reason: str


@dataclass(frozen=True)
class Copy:
    """A prepared builder's answer: the key of the layout the copy fills, its recipient (an address
    or ``(name, address)``) and a value for each slot of the layout."""

    layout: Hashable
    to: str | tuple[str, str]
    values: Mapping[str, str]


Builder = Callable[[str, Mapping[str, Any]], "Message | Copy | Skip | None"]
# A layout function: the message for a layout key, rendered with ``slot`` markers (None or Skip
# when it is gone: its copies are skipped).
LayoutFunction = Callable[[Any], "Message | Skip | None"]
# A screen: for the parameters of many copies, whether each still goes out (same order).
Screen = Callable[[Sequence[Mapping[str, Any]]], Sequence[bool]]
Params = Mapping[str, str | int]
log = logging.getLogger(__name__)
# Prepared layouts a worker process keeps per application (the oldest is dropped first).
LAYOUTS_KEPT = 32
# In a claimed row's meta (in memory only): what the batch screen said ("send" or "skip"), and
# the subject of a filled copy.
SCREENED = "screened"
SUBJECT = "subject"
# A row whose builder this worker lacks waits this long before it is looked at again; its attempt
# is not counted (a worker of an older release may simply not know the builder yet).
UNKNOWN_BUILDER_WAIT = timedelta(minutes=1)
WAITING = (OutboxStatus.QUEUED.value, OutboxStatus.SENDING.value)


# What a layout function's None is kept as: the layout is gone, its copies are skipped.
GONE = Skip("")


class UnknownBuilder(LookupError):
    """A deferred row names a builder this application has not registered."""


class Intent(NamedTuple):
    """One deferred email to queue in bulk: to whom, the builder's parameters, an optional dedupe key
    (a tuple: a fan-out makes them by the million)."""

    to: str
    params: Params
    dedupe_key: str | None = None


@dataclass
class Builders:
    """The builders one Mail knows, and which of them render at every attempt instead of once."""

    functions: dict[str, Builder]
    each_attempt: set[str]
    layouts: dict[str, LayoutFunction] = field(default_factory=dict)
    screens: dict[str, Screen] = field(default_factory=dict)

    def register(self, name: str, function: Builder, *, each_attempt: bool = False) -> None:
        """Make ``function`` the builder called ``name``; ``each_attempt`` renders it at every attempt
        (it must then be deterministic and read-only) instead of storing its first result."""
        self.functions[name] = function
        self.layouts.pop(name, None)
        self.screens.pop(name, None)
        if each_attempt:
            self.each_attempt.add(name)
        else:
            self.each_attempt.discard(name)

    def register_prepared(self, name: str, function: Builder, layout: LayoutFunction,
                          screen: Screen | None = None, *, each_attempt: bool = True) -> None:
        """Make ``function`` (answering a ``Copy``) the builder called ``name``, its copies filled from
        ``layout(key)`` laid out once per process; ``screen`` tells, per claimed batch, which go out.
        Without ``each_attempt`` a copy is filled once and stored, like a built message."""
        self.register(name, function, each_attempt=each_attempt)
        self.layouts[name] = layout
        if screen is not None:
            self.screens[name] = screen


class Layouts:
    """The prepared layouts of one application in this process, the oldest dropped past LAYOUTS_KEPT."""

    def __init__(self) -> None:
        """None yet."""
        self.kept: dict[tuple[str, Hashable], Prepared | Skip] = {}
        self.lock = threading.Lock()

    def get(self, key: tuple[str, Hashable], make: Callable[[], Prepared | Skip]) -> Prepared | Skip:
        """The layout under ``key``, made once (two threads may both make it; either result is kept).
        A look-up takes no lock: one dictionary read is atomic, and it happens once per copy."""
        found = self.kept.get(key)
        if found is not None:
            return found
        made = make()
        with self.lock:
            while len(self.kept) >= LAYOUTS_KEPT:
                del self.kept[next(iter(self.kept))]
            self.kept[key] = made
        return made


# Where an application's mail state keeps its prepared layouts.
LAYOUTS = "prepared_layouts"


def layouts() -> Layouts:
    """The current application's prepared layouts (each application keeps its own)."""
    services = state().services
    found = services.get(LAYOUTS)
    if found is None:
        found = services.setdefault(LAYOUTS, Layouts())  # two threads: both get the one kept
    assert isinstance(found, Layouts)
    return found


def builders() -> Builders:
    """The builders registered on the current application's Mail."""
    found: Builders = state().mail.builders
    return found


def deferred_row(name: str, to: str, params: Mapping[str, str | int], *,
                 expires_at: datetime | None = None) -> OutboxMessage:
    """A new row naming builder ``name`` and the recipient, with no message yet (not added);
    ``expires_at``: past it the request is stale and nothing is built or sent."""
    moment = now()
    return OutboxMessage(
        message_id=make_msgid(domain=message_id_domain()), kind=TRANSACTIONAL,
        priority=PRIORITY[TRANSACTIONAL], status=OutboxStatus.QUEUED.value, template=name,
        subject="", sender="", recipients=[to], raw=b"", attempts=0,
        max_attempts=current_app.config["OUTBOX_MAX_ATTEMPTS"], next_attempt_at=moment,
        created_at=moment, meta={"deferred": name, "params": dict(params)}, expires_at=expires_at,
        address_key=to.lower(),
    )


def defer(name: str, to: str, *, expires_at: datetime | None = None,
          **params: str | int) -> OutboxMessage:
    """Queue a deferred email to ``to`` in the current transaction (the caller commits)."""
    row = deferred_row(name, to, params, expires_at=expires_at)
    db.session.add(row)
    return row


def waiting_builders(session: Session) -> dict[str, int]:
    """Builder names of the deferred rows still waiting to be built, with how many rows name each."""
    name = OutboxMessage.meta["deferred"].as_string()
    query = (select(name, func.count()).where(OutboxMessage.status.in_(WAITING),
                                             func.length(OutboxMessage.raw) == 0, name.is_not(None))
             .group_by(name))
    return {str(found): int(count) for found, count in session.execute(query)}


def unknown_builders(session: Session) -> dict[str, int]:
    """Waiting deferred rows whose builder is not registered: name -> how many rows."""
    known = builders().functions
    return {name: count for name, count in waiting_builders(session).items() if name not in known}


def defer_many(name: str, intents: Sequence[Intent], *, kind: str, subject: str, sender: str,
               announcement_id: int | None = None) -> int:
    """Queue one row per intent with a single INSERT (no rendering); the caller commits.

    ``subject`` and ``sender`` are stored for the operator's views; the message's Date is fixed
    now, so that every attempt renders the same bytes.
    """
    if not intents:
        return 0
    moment = now()
    shared = {"kind": kind, "priority": PRIORITY[kind], "status": OutboxStatus.QUEUED.value,
              "template": name, "subject": subject, "sender": sender, "raw": b"", "attempts": 0,
              "max_attempts": current_app.config["OUTBOX_MAX_ATTEMPTS"], "throttles": 0,
              "next_attempt_at": moment, "created_at": moment, "announcement_id": announcement_id}
    ids, stamp = bulk_copy.message_ids(len(intents), message_id_domain()), int(moment.timestamp())
    if db.session.connection().dialect.name == "postgresql":
        _copy_in(name, stamp, shared, ids, intents)
    else:
        db.session.execute(insert(OutboxMessage), [
            {**shared, "message_id": message_id, "recipients": [intent.to], "address_key": intent.to.lower(),
             "dedupe_key": intent.dedupe_key,
             "meta": {"deferred": name, "date": stamp, "params": dict(intent.params)}}
            for message_id, intent in zip(ids, intents, strict=True)])
    return len(intents)


def _copy_in(name: str, stamp: int, shared: Mapping[str, object], ids: Sequence[str],
             intents: Sequence[Intent]) -> None:
    """PostgreSQL: write the rows with COPY as text built here (the shared columns formatted once),
    in the session's transaction; a duplicate dedupe key raises IntegrityError as usual."""
    connection = db.session.connection()
    driver = connection.connection.driver_connection
    assert driver is not None
    columns = ", ".join([*bulk_copy.COPY_COLUMNS, *shared])
    statement = f"COPY {OutboxMessage.__tablename__} ({columns}) FROM STDIN"
    rows = ((message_id, intent.to, intent.dedupe_key, intent.params)
            for message_id, intent in zip(ids, intents, strict=True))
    text = bulk_copy.copy_lines(rows, bulk_copy.meta_head(name, stamp), bulk_copy.shared_part(shared))
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            copy.write(text)
    except connection.dialect.dbapi.IntegrityError as error:  # type: ignore[union-attr]
        raise IntegrityError(statement, None, error) from error


@cache
def _store_statement(names: tuple[str, ...]) -> Update:
    """The UPDATE writing those columns of one row while the claim is ours, built once (Core: the
    ORM's bulk update would first look for loaded rows to synchronise)."""
    table = OutboxMessage.__table__
    return (update(table)
            .where(table.c.id == bindparam("row_id"), table.c.claimed_by == bindparam("worker"))
            .values({name: bindparam(f"new_{name}") for name in names}))


def _store(row: Claimed, worker_id: str, values: Mapping[str, Any]) -> bool:
    """Write the build's result while the claim is still ours; False when it was taken over."""
    statement = _store_statement(tuple(values))
    # On the session's connection: a Core UPDATE needs none of the ORM's execution (binds, events).
    result = db.session.connection().execute(
        statement, {"row_id": row.id, "worker": worker_id,
                    **{f"new_{name}": value for name, value in values.items()}})
    db.session.commit()
    return bool(getattr(result, "rowcount", 0))


def _build(row: Claimed) -> Message | Copy | Skip | None:
    """Run the row's builder (inside the caller's transaction); None when its screen (asked now
    unless the claim already did) says the copy no longer goes out."""
    name = str(row.meta.get("deferred", ""))
    found = builders()
    if name not in found.functions:
        raise UnknownBuilder(f"no builder named {name!r} is registered (mail.register_builder)")
    params = row.meta.get("params") or {}
    verdict = row.meta.get(SCREENED)
    if verdict is None and name in found.screens:
        verdict = "send" if found.screens[name]([params])[0] else "skip"
    if verdict == "skip":
        return None
    return found.functions[name](row.recipients[0], params)


def fills_copy(row: Claimed) -> bool:
    """Whether the row is a copy filled from a prepared layout at every attempt (a few joins: no
    need of a pool; one filled once reads the database, then stores it)."""
    name, found = row.meta.get("deferred"), builders()
    return not row.raw and name in found.layouts and name in found.each_attempt


def screen_copies(rows: Sequence[Claimed]) -> list[Claimed]:
    """The claimed rows, each deferred one whose builder has a screen marked with its verdict: one
    call of the screen per builder for the whole batch, instead of one query per copy."""
    screens = builders().screens
    groups: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        name = row.meta.get("deferred")
        if not row.raw and isinstance(name, str) and name in screens:
            groups.setdefault(name, []).append(index)
    screened = list(rows)
    for name, indexes in groups.items():
        try:
            verdicts = screens[name]([rows[i].meta.get("params") or {} for i in indexes])
            db.session.commit()
        except Exception:  # the rows are held already: each is then screened when it is built
            log.exception("screening copies of %s failed", name)
            db.session.rollback()
            continue
        for index, goes in zip(indexes, verdicts, strict=True):
            screened[index] = rows[index].but(meta={**rows[index].meta,
                                                    SCREENED: "send" if goes else "skip"})
    return screened


def _laid_out(name: str, key: Hashable) -> Prepared | Skip:
    """The layout ``key`` of builder ``name``, prepared once per process (Skip when it is gone)."""

    def make() -> Prepared | Skip:
        message = builders().layouts[name](key)
        if message is None or isinstance(message, Skip):
            return message or GONE
        return Prepared.of(message)

    return layouts().get((name, key), make)


def _filled(row: Claimed, copy: Copy) -> Claimed | Skip | None:
    """The row with its copy's bytes, filled into its layout (Skip or None when it is gone)."""
    prepared = _laid_out(str(row.meta["deferred"]), copy.layout)
    if isinstance(prepared, Skip):
        return None if prepared is GONE else prepared
    raw = prepared.fill(message_id=row.message_id, date=_date_of(row), to=copy.to, values=copy.values)
    filled = row.but(raw=raw, sender=prepared.sender, recipients=[bare_address(copy.to)])
    if row.meta["deferred"] in builders().each_attempt:
        return filled
    return filled.but(meta={**row.meta, SUBJECT: prepared.subject_of(copy.values)})  # ``unstored``


def _date_of(row: Claimed) -> float:
    """The Date of a deferred row's message: fixed when a fan-out queued it, else now (a message
    built once is stored with the Date it was built at)."""
    date = row.meta.get("date")
    return float(date) if date is not None else now().timestamp()


def _hold(row: Claimed, worker_id: str, error: UnknownBuilder) -> None:
    """Put a row whose builder is unknown back in the queue for later, without using an attempt."""
    current_app.logger.warning("deferred message %s: %s", row.message_id, error)
    _store(row, worker_id, {"status": OutboxStatus.QUEUED.value, "claimed_by": None,
                            "claimed_until": None, "attempts": row.attempts - 1,
                            "next_attempt_at": now() + UNKNOWN_BUILDER_WAIT, "last_error": str(error)})


def render(row: Claimed, message: Message) -> Claimed:
    """The row with the bytes of ``message`` as this row sends them: its Message-ID and its Date."""
    message.msgId = row.message_id
    message.date = float(row.meta["date"])
    return row.but(raw=finished_bytes(message), sender=envelope_sender(message))


def _built(row: Claimed) -> Message | Claimed | Skip | None:
    """The builder's message, or the row already filled when the builder answered a Copy."""
    message = _build(row)
    return _filled(row, message) if isinstance(message, Copy) else message


def unstored(row: Claimed) -> dict[str, Any]:
    """What the outcome of a copy filled once for this attempt stores of it (its bytes, sender,
    recipients and subject); nothing for any other row, whose bytes are stored or rebuilt."""
    if SUBJECT not in row.meta:
        return {}
    return {"raw": row.raw, "sender": row.sender, "recipients": row.recipients,
            "subject": row.meta[SUBJECT]}


def materialize(row: Claimed, worker_id: str) -> Claimed | None:
    """Build a deferred row's message (and store it unless rendered at every attempt); None when
    it was skipped or is no longer ours."""
    try:
        message = _built(row)
    except UnknownBuilder as error:
        db.session.rollback()
        _hold(row, worker_id, error)
        return None
    except BaseException:
        db.session.rollback()
        raise
    if message is None or isinstance(message, Skip):
        reason = message.reason if message is not None else None
        _store(row, worker_id, {"status": OutboxStatus.SKIPPED.value, "claimed_by": None,
                                "claimed_until": None, "sent_at": now(), "last_error": reason})
        return None
    if isinstance(message, Claimed):
        # A filled copy goes out as it is: one filled once is stored with the outcome of this
        # attempt (``unstored``), not before it; the builder's reads leave nothing to keep.
        if db.session().in_transaction():
            db.session.commit()
        return message
    if row.meta.get("deferred") in builders().each_attempt:
        db.session.commit()
        return render(row, message)
    message.msgId = row.message_id
    values = finished_fields(message, template=row.meta.get("deferred"))
    if not _store(row, worker_id, values):
        return None
    dispatched(message)
    return row.but(raw=values["raw"], sender=values["sender"], recipients=values["recipients"])
