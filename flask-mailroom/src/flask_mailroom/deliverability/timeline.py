""""Why didn't I get the email?": everything that happened to mail for an address (newest first: the
answer is usually the latest line), or one message (in order): asked for, skipped (and why), queued,
sent (with the server's reply), failed, bounced, complained. Lines where mail did not go out carry a
mark (skipped, suppressed, failed) that pages show beside their reason. Built from the outbox rows
and the address's events; bodies are never read. A message's timeline covers every recipient: each
line about one recipient names it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from markupsafe import Markup, escape
from sqlalchemy import select

from flask_mailroom import i18n
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
# How a line's detail is put together; a page says it in its language around the parts.
ONLY, NAMED, REFUSED = "%(text)s", N_("%(template)s (%(kind)s)"), N_("%(reply)s (refused: %(refused)s)")
ATTEMPT, VIA, BY = N_("attempt %(num)s: %(error)s"), N_("%(detail)s (via %(source)s)"), N_("by %(source)s")
BECAUSE = N_("%(reason)s: %(detail)s")
# Words the package writes into details: a delivery with no reply, why an address is suppressed.
WORDS = (N_("accepted"), N_("hard bounce"), N_("soft bounces"), N_("complaint"))
# Lines where mail did not go out, by how a page marks them: left out on purpose, or given up.
SKIPPED_MARK, SUPPRESSED_MARK, FAILED_MARK = "skipped", "suppressed", "failed"
MARKS = {OutboxStatus.SKIPPED.value: SKIPPED_MARK, OutboxStatus.EXPIRED.value: SKIPPED_MARK,
         OutboxStatus.SUPPRESSED.value: SUPPRESSED_MARK, OutboxStatus.FAILED.value: FAILED_MARK,
         SKIPPED: SKIPPED_MARK, BOUNCE_HARD: FAILED_MARK}


@dataclass(frozen=True)
class Detail:
    """A line's detail in parts, for a page to say in its own language: a sentence with ``%(name)s``
    placeholders, and the text of each (translated where a catalogue knows it, such as a reason or
    where a record came from; else, like a server's reply, kept as written)."""

    pattern: str = ONLY
    parts: tuple[tuple[str, str], ...] = ()

    def english(self) -> str:
        """The detail as stored and read without a language."""
        return self.pattern % dict(self.parts) if self.parts else ""

    def html(self) -> Markup:
        """The detail in the current language: each part a catalogue knows translated, the others as
        written in ``<code translate="no" lang="en">`` (a reply stays in the server's words)."""
        shown = {name: _part(text) for name, text in self.parts}
        return escape(i18n.gettext(self.pattern)) % shown


def _part(text: str) -> Markup:
    """One part of a detail: a number as it is, words a catalogue has translated, else kept as written."""
    said = i18n.gettext(text) if text and not text.isdigit() else text
    if said != text or not text or text.isdigit():
        return escape(said)
    return Markup('<code translate="no" lang="en">{}</code>').format(text)


def _detail(pattern: str, **parts: str) -> Detail:
    """A detail from its sentence and parts."""
    return Detail(pattern, tuple(parts.items()))


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
    # "skipped", "suppressed" or "failed" when the line says mail did not go out (its detail says
    # why); empty otherwise.
    mark: str = ""
    # The detail in parts, to show in a page's language (``detail`` is its English).
    parts: Detail = field(default_factory=Detail)

    def detail_html(self) -> Markup:
        """The detail in the current language, server replies kept as written (a line made without
        parts shows its English detail as written)."""
        return (self.parts if self.parts.parts else _detail(ONLY, text=self.detail)).html()


def _line(at: datetime, what: str, said: Detail, row: OutboxMessage | None = None, *, recipient: str = "",
          mark: str = "") -> Entry:
    """A timeline line with its detail in English and in parts (about a message when ``row`` is given)."""
    message, subject = (row.id, row.subject) if row is not None else (None, "")
    return Entry(at, what, said.english(), message, subject, recipient, mark, said)


def _closed_at(row: OutboxMessage) -> datetime | None:
    """When the row reached its final status."""
    if row.status in (OutboxStatus.SENT.value, OutboxStatus.SKIPPED.value):
        return row.sent_at
    if row.status == OutboxStatus.FAILED.value:
        return row.failed_at
    return row.closed_at


def _closing_detail(row: OutboxMessage) -> Detail:
    """The server's reply for a delivery, else the reason the row stopped."""
    if row.status == OutboxStatus.SENT.value:
        reply = row.server_reply or "accepted"
        if row.last_error:
            return _detail(REFUSED, reply=reply, refused=row.last_error)
        return _detail(ONLY, text=reply)
    return _detail(ONLY, text=row.last_error or "")


def row_entries(row: OutboxMessage) -> list[Entry]:
    """What one outbox row tells: asked for or queued, then sent, failed, skipped or still waiting."""
    name = row.template or row.kind
    first = ASKED if row.meta.get("deferred") else QUEUED
    entries = [_line(row.created_at, first, _detail(NAMED, template=name, kind=row.kind), row)]
    closed = _closed_at(row)
    if row.status in CLOSED and closed is not None:
        entries.append(_line(closed, CLOSED[row.status], _closing_detail(row), row,
                             mark=MARKS.get(row.status, "")))
    elif row.attempts and row.last_error:
        entries.append(_line(row.next_attempt_at, WAITING,
                             _detail(ATTEMPT, num=str(row.attempts), error=row.last_error), row))
    return entries


def event_entry(event: MailEvent) -> Entry:
    """One address event as a timeline line, naming its address."""
    said = (_detail(BY, source=event.source) if event.kind == LIFTED or not event.detail
            else _detail(VIA, detail=event.detail, source=event.source))
    return Entry(event.occurred_at, EVENT_LABELS.get(event.kind, event.kind), _event_english(event),
                 event.outbox_id, recipient=event.address_key, mark=MARKS.get(event.kind, ""), parts=said)


def _event_english(event: MailEvent) -> str:
    """An event's detail as it has always been stored and read in English."""
    return f"{event.detail or ''} (via {event.source})".strip()


def for_address(address: str) -> list[Entry]:
    """Every account email and copy for the address, and every event about it, newest first (the
    latest lines answer "why didn't I get it?")."""
    key = key_of(address)
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.address_key == key)
                              .order_by(OutboxMessage.id.desc()).limit(LIMIT))
    events = db.session.scalars(select(MailEvent).where(MailEvent.address_key == key)
                                .order_by(MailEvent.id.desc()).limit(LIMIT))
    # Newest first within each source, and a message's own lines latest first ("skipped" above its
    # "asked for"); the sort is stable, so lines at equal times keep that order, an event (a bounce)
    # above the message line it follows.
    entries = [event_entry(e) for e in events]
    entries += [e for row in rows for e in reversed(row_entries(row))]
    db.session.commit()
    return sorted(entries, key=lambda e: e.at, reverse=True)


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
    return [_line(closed, CLOSED[OutboxStatus.SUPPRESSED.value], _suppression_detail(s), row,
                  recipient=s.address_key, mark=SUPPRESSED_MARK)
            for s in found if s.created_at < closed and rules.applies(s.scope, stream)]


def _suppression_detail(found: Suppression) -> Detail:
    """Why an address is suppressed (since when is on the address's own timeline, in the reader's zone)."""
    if found.detail:
        return _detail(BECAUSE, reason=found.reason, detail=found.detail)
    return _detail(ONLY, text=found.reason)


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
