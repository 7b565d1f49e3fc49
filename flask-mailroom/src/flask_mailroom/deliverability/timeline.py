""""Why didn't I get the email?": everything that happened to mail for an address, or one message,
in order: asked for, skipped (and why), queued, sent (with the server's reply), failed, bounced,
complained. Built from the outbox rows and the address's events; bodies are never read. A message's
timeline covers every recipient: each line about one recipient names it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from flask_mailroom.deliverability.suppression import (
    BOUNCE_HARD,
    BOUNCE_SOFT,
    COMPLAINT,
    LIFTED,
    SKIPPED,
    STREAMS,
    key_of,
)
from flask_mailroom.models.deliverability import MailEvent, Suppression
from flask_mailroom.models.outbox import OutboxMessage, OutboxStatus
from flask_mailroom.rules import suppression as rules
from flask_mailroom.store import db


def N_(label: str) -> str:  # noqa: N802 (the name the catalogue extractor looks for)
    """Mark a timeline label for the catalogues; pages translate it when they show it."""
    return label


LIMIT = 500
EVENT_LABELS = {BOUNCE_HARD: N_("bounced (hard)"), BOUNCE_SOFT: N_("bounced (soft)"),
                COMPLAINT: N_("complained"), SKIPPED: N_("skipped"), LIFTED: N_("suppression lifted")}
CLOSED = {OutboxStatus.SKIPPED.value: N_("skipped"), OutboxStatus.EXPIRED.value: N_("skipped: expired"),
          OutboxStatus.SUPPRESSED.value: N_("skipped: suppressed"), OutboxStatus.SENT.value: N_("sent"),
          OutboxStatus.FAILED.value: N_("failed")}
ASKED, QUEUED, WAITING = N_("asked for"), N_("queued"), N_("waiting to retry")


@dataclass(frozen=True)
class Entry:
    """One line of a timeline."""

    at: datetime
    what: str
    detail: str
    message: int | None = None
    subject: str = ""
    # The recipient the line is about; empty when it is about the message (every recipient).
    recipient: str = ""


def _closed_at(row: OutboxMessage) -> datetime | None:
    """When the row reached its final status."""
    if row.status in (OutboxStatus.SENT.value, OutboxStatus.SKIPPED.value):
        return row.sent_at
    if row.status == OutboxStatus.FAILED.value:
        return row.failed_at
    return row.closed_at


def _closing_detail(row: OutboxMessage) -> str:
    """The server's reply for a delivery, else the reason the row stopped."""
    if row.status == OutboxStatus.SENT.value:
        reply = row.server_reply or "accepted"
        return f"{reply} (refused: {row.last_error})" if row.last_error else reply
    return row.last_error or ""


def row_entries(row: OutboxMessage) -> list[Entry]:
    """What one outbox row tells: asked for or queued, then sent, failed, skipped or still waiting."""
    name = row.template or row.kind
    first = ASKED if row.meta.get("deferred") else QUEUED
    entries = [Entry(row.created_at, first, f"{name} ({row.kind})", row.id, row.subject)]
    closed = _closed_at(row)
    if row.status in CLOSED and closed is not None:
        entries.append(Entry(closed, CLOSED[row.status], _closing_detail(row), row.id, row.subject))
    elif row.attempts and row.last_error:
        entries.append(Entry(row.next_attempt_at, WAITING,
                             f"attempt {row.attempts}: {row.last_error}", row.id, row.subject))
    return entries


def event_entry(event: MailEvent) -> Entry:
    """One address event as a timeline line, naming its address."""
    detail = f"{event.detail or ''} (via {event.source})".strip()
    return Entry(event.occurred_at, EVENT_LABELS.get(event.kind, event.kind), detail, event.outbox_id,
                 recipient=event.address_key)


def for_address(address: str) -> list[Entry]:
    """Every account email and copy for the address, and every event about it, oldest first."""
    key = key_of(address)
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.address_key == key)
                              .order_by(OutboxMessage.id.desc()).limit(LIMIT))
    events = db.session.scalars(select(MailEvent).where(MailEvent.address_key == key)
                                .order_by(MailEvent.id.desc()).limit(LIMIT))
    # Oldest first within each source; at equal times a message's own lines come first.
    entries = [e for row in reversed(list(rows)) for e in row_entries(row)]
    entries += [event_entry(e) for e in reversed(list(events))]
    db.session.commit()
    return sorted(entries, key=lambda e: e.at)


def _message_events(row_id: int) -> list[MailEvent]:
    """The events tied to one message (bounces, complaints, refusals at delivery), whoever they are about."""
    return list(db.session.scalars(select(MailEvent).where(MailEvent.outbox_id == row_id)
                                   .order_by(MailEvent.id).limit(LIMIT)))


def _recipients(row: OutboxMessage, events: list[MailEvent]) -> list[str]:
    """Every recipient the message had, by lookup key, in order: its envelope (which a partial delivery
    narrows to those still to try), its first recipient and whoever its events are about."""
    keys = [key_of(a) for a in row.recipients] + [row.address_key or ""] + [e.address_key for e in events]
    return list(dict.fromkeys(k for k in keys if k))


def _suppressed_entries(row: OutboxMessage, keys: list[str]) -> list[Entry]:
    """For a message that went out (or failed), each recipient left out because a suppression of theirs
    that stops this kind of mail was already in force."""
    closed = _closed_at(row)
    if row.status not in (OutboxStatus.SENT.value, OutboxStatus.FAILED.value) or closed is None:
        return []
    stream = STREAMS.get(row.kind, rules.ACCOUNT)
    found = db.session.scalars(select(Suppression).where(Suppression.address_key.in_(keys))
                               .order_by(Suppression.address_key))
    return [Entry(closed, CLOSED[OutboxStatus.SUPPRESSED.value], _suppression_detail(s), row.id, row.subject,
                  s.address_key)
            for s in found if s.created_at < closed and rules.applies(s.scope, stream)]


def _suppression_detail(found: Suppression) -> str:
    """Why an address is suppressed (since when is on the address's own timeline, in the reader's zone)."""
    return f"{found.reason}: {found.detail}" if found.detail else found.reason


def for_message(row_id: int) -> tuple[OutboxMessage, list[Entry]]:
    """One message and its timeline for every recipient (bounces, complaints, refusals at delivery, who
    was left out as suppressed), each line about one recipient naming it; LookupError when there is
    no such row."""
    row = db.session.get(OutboxMessage, row_id)
    if row is None:
        raise LookupError(f"no message {row_id}")
    events = _message_events(row_id)
    entries = row_entries(row) + _suppressed_entries(row, _recipients(row, events))
    entries += [event_entry(e) for e in events]
    return row, sorted(entries, key=lambda e: e.at)


def headers_of(row: OutboxMessage) -> list[tuple[str, str]]:
    """The message's headers (never its body), when its bytes are still kept."""
    if not row.raw:
        return []
    from email.parser import BytesHeaderParser
    from email.policy import default

    parsed = BytesHeaderParser(policy=default).parsebytes(row.raw)
    hidden = "(the person's own unsubscribe link)"
    return [(name, hidden if name.lower() == "list-unsubscribe" else str(value))
            for name, value in parsed.items()]
