"""Compose a message from a template pair and put it in the outbox in the caller's transaction."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from flask import current_app, render_template
from flask_mail import Message
from jinja2 import ext

from flask_mailroom.compose.headers import check_header_name, check_header_value
from flask_mailroom.compose.locale import speaking
from flask_mailroom.compose.message import Message as MailroomMessage
from flask_mailroom.compose.mime import bare_address, envelope_sender, split_address
from flask_mailroom.compose.prepared import message_bytes
from flask_mailroom.models.outbox import BULK, PRIORITY, TRANSACTIONAL, OutboxMessage, OutboxStatus
from flask_mailroom.store import db, now, state

Address = str | tuple[str, str]


@dataclass(frozen=True)
class Attachment:
    """A file to attach: its name, content type and bytes."""

    filename: str
    content_type: str
    data: bytes


@dataclass
class Envelope:
    """Everything about a message except its bodies."""

    recipients: Sequence[Address]
    # None: the subject block of the email's text template, rendered in the recipient's language.
    subject: str | None = None
    sender: Address | None = None
    cc: Sequence[Address] = ()
    bcc: Sequence[Address] = ()
    reply_to: Address | None = None
    attachments: Sequence[Attachment] = ()
    extra_headers: Mapping[str, str] = field(default_factory=dict)


def _address_text(address: Address) -> str:
    """An address as one string, for the header check."""
    return f"{address[0]} <{address[1]}>" if isinstance(address, tuple) else address


def header_values(envelope: Envelope) -> Iterator[tuple[str, str]]:
    """Every (header, value) the envelope puts in the message, attachment headers included."""
    yield "Subject", envelope.subject or ""
    for name, addresses in (("To", envelope.recipients), ("Cc", envelope.cc), ("Bcc", envelope.bcc)):
        for address in addresses:
            yield name, _address_text(address)
    for name, one in (("From", envelope.sender), ("Reply-To", envelope.reply_to)):
        if one is not None:
            yield name, _address_text(one)
    for key, value in envelope.extra_headers.items():
        yield check_header_name(key), value
    for attachment in envelope.attachments:
        yield "attachment file name", attachment.filename
        yield "attachment content type", attachment.content_type


def check_envelope(envelope: Envelope) -> None:
    """Refuse line breaks in any header value (extra headers and file names included), then check
    that there is a recipient and that every address is one usable address."""
    for name, value in header_values(envelope):
        check_header_value(name, value)
    if not (envelope.recipients or envelope.cc or envelope.bcc):
        raise ValueError("a message needs at least one recipient")
    for one in [*envelope.recipients, *envelope.cc, *envelope.bcc, envelope.sender, envelope.reply_to]:
        if one is not None:
            split_address(one)


def check_message(message: Message) -> None:
    """The same checks on a finished Message, which callers may have changed after composing."""
    check_envelope(Envelope(
        subject=message.subject or "", recipients=list(message.recipients), sender=message.sender,
        cc=list(message.cc), bcc=list(message.bcc), reply_to=message.reply_to,
        extra_headers=dict(message.extra_headers or {}),
        attachments=[Attachment(a.filename or "", a.content_type, b"") for a in message.attachments],
    ))


def build_message(envelope: Envelope, text: str, html: str | None) -> Message:
    """A Flask-Mail Message with a fixed Message-ID and Date, after the header checks."""
    check_envelope(envelope)
    sender = envelope.sender or current_app.config["MAIL_DEFAULT_SENDER"]
    message = MailroomMessage(
        subject=envelope.subject or "", recipients=list(envelope.recipients), body=text, html=html,
        sender=sender, cc=list(envelope.cc), bcc=list(envelope.bcc), reply_to=envelope.reply_to,
        extra_headers=dict(envelope.extra_headers), date=now().timestamp(),
    )
    for item in envelope.attachments:
        message.attach(item.filename, item.content_type, item.data)
    return message


@dataclass(frozen=True)
class Rendered:
    """An email as its recipient reads it: subject, text part and HTML part."""

    subject: str
    text: str
    html: str


def render_subject(template: str, context: Mapping[str, Any]) -> str:
    """The ``subject`` block of ``email/<name>.txt``, on one line."""
    found = current_app.jinja_env.get_template(f"email/{template}.txt")
    values = dict(context)
    current_app.update_template_context(values)
    return " ".join("".join(found.blocks["subject"](found.new_context(values))).split())


@lru_cache(maxsize=64)
def _catalogue_callables(translations: Any) -> dict[str, Any]:
    """The template ``gettext`` family bound to one loaded catalogue, wrapped as Flask-Babel's
    (new-style) globals are, made once per catalogue."""
    return {"gettext": ext._make_new_gettext(translations.ugettext),
            "ngettext": ext._make_new_ngettext(translations.ungettext),
            "pgettext": ext._make_new_pgettext(translations.upgettext),
            "npgettext": ext._make_new_npgettext(translations.unpgettext)}


def catalogue_context() -> dict[str, Any]:
    """The ``gettext`` family bound to the catalogue in force, for one message's templates: the same
    words as Flask-Babel's globals, without looking the catalogue up again for every ``_()``."""
    if "babel" not in current_app.extensions or not getattr(current_app.jinja_env, "newstyle_gettext",
                                                             False):
        return {}
    from flask_babel import get_translations

    return _catalogue_callables(get_translations())


def render_pair(template: str, context: Mapping[str, Any], locale: str | None = None,
                timezone: str | None = None) -> Rendered:
    """Render ``email/<name>.txt`` (whose ``subject`` block is the subject) and ``email/<name>.html``
    in the recipient's ``locale`` and ``timezone``, isolated from any other message."""
    with speaking(locale, timezone):
        context = {**catalogue_context(), **context}
        subject = render_subject(template, context)
        values = {**context, "subject": context.get("subject") or subject}
        text = render_template(f"email/{template}.txt", **values)
        html = render_template(f"email/{template}.html", **values)
    return Rendered(subject, text, html)


def compose(template: str, envelope: Envelope, *, locale: str | None = None,
            timezone: str | None = None, **context: Any) -> Message:
    """One call from a template pair and an envelope to a ready Message in the recipient's language;
    the subject is the template's unless the envelope names one."""
    rendered = render_pair(template, context, locale, timezone)
    envelope = replace(envelope, subject=envelope.subject or rendered.subject)
    return build_message(envelope, rendered.text, rendered.html)


STREAM_NAMES = {TRANSACTIONAL: "account", BULK: "bulk"}


def stream_headers(kind: str, campaign: str, unsubscribe_url: str | None = None) -> dict[str, str]:
    """The headers a stream carries: account mail says it is automatic (so autoresponders stay
    quiet), bulk mail says it is bulk and how to leave; both a Feedback-ID when one is configured."""
    if kind == TRANSACTIONAL:
        headers = {"Auto-Submitted": "auto-generated", "X-Auto-Response-Suppress": "All"}
    else:
        headers = {"Precedence": "bulk"}
        if unsubscribe_url:
            headers["List-Unsubscribe"] = f"<{unsubscribe_url}>"
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    feedback_id = current_app.config.get("MAIL_FEEDBACK_ID")
    if feedback_id:
        headers["Feedback-ID"] = f"{campaign}:{STREAM_NAMES.get(kind, kind)}:{feedback_id}"
    return headers


def with_stream_headers(message: Message, kind: str, campaign: str) -> None:
    """Add the stream's headers to a message, keeping any the caller set."""
    message.extra_headers = {**stream_headers(kind, campaign), **(message.extra_headers or {})}


def envelope_recipients(message: Message) -> list[str]:
    """Every address the server must deliver to (To, Cc and Bcc), bare, each once, in order."""
    seen: dict[str, str] = {}
    for address in [*message.recipients, *message.cc, *message.bcc]:
        bare = bare_address(address)
        seen.setdefault(bare.lower(), bare)
    return list(seen.values())


def finished_bytes(message: Message) -> bytes:
    """The message as it goes on the wire, after the header checks (the same bytes every time),
    written directly rather than through the email package's objects (several times faster)."""
    check_message(message)
    return message_bytes(message)


def finished_fields(message: Message, *, template: str | None = None,
                    kind: str = TRANSACTIONAL) -> dict[str, Any]:
    """What an outbox row keeps of ``message`` once its stream's headers are added and its Date
    fixed (now, when it has none): its bytes, subject, envelope sender and recipients."""
    with_stream_headers(message, kind, template or "mail")
    if message.date is None:
        message.date = now().timestamp()
    return {"raw": finished_bytes(message), "subject": message.subject or "",
            "sender": envelope_sender(message), "recipients": envelope_recipients(message)}


def outbox_row(message: Message, *, template: str | None = None, kind: str = TRANSACTIONAL,
               dedupe_key: str | None = None, announcement_id: int | None = None,
               expires_at: datetime | None = None) -> OutboxMessage:
    """A new outbox row holding the finished bytes and envelope of ``message`` (not yet added);
    ``expires_at`` is when the link or code it carries stops working."""
    moment = now()
    finished = finished_fields(message, template=template, kind=kind)
    recipients = finished["recipients"]
    return OutboxMessage(
        message_id=message.msgId, kind=kind, priority=PRIORITY[kind],
        status=OutboxStatus.QUEUED.value, template=template, **finished, attempts=0,
        max_attempts=current_app.config["OUTBOX_MAX_ATTEMPTS"], next_attempt_at=moment,
        created_at=moment, dedupe_key=dedupe_key, announcement_id=announcement_id, meta={},
        expires_at=expires_at, address_key=recipients[0].lower() if recipients else None,
    )


def queue(message: Message, *, template: str | None = None, kind: str = TRANSACTIONAL,
          dedupe_key: str | None = None, announcement_id: int | None = None,
          expires_at: datetime | None = None) -> OutboxMessage:
    """Add the message to the outbox in the current transaction; the caller commits."""
    row: OutboxMessage = state().mail.send(message, session=db.session, template=template, kind=kind,
                                           dedupe_key=dedupe_key, announcement_id=announcement_id,
                                           expires_at=expires_at)
    return row


def send_email(template: str, to: Address, *, locale: str | None = None, timezone: str | None = None,
               expires_at: datetime | None = None, **context: Any) -> OutboxMessage:
    """Compose an account email to one person in their language and queue it (caller commits);
    ``expires_at``: when the link or code in it stops working, after which it is never delivered."""
    message = compose(template, Envelope(recipients=[to]), locale=locale, timezone=timezone, **context)
    return queue(message, template=template, expires_at=expires_at)
