"""What providers and bounce mailboxes tell us, into the per-address state.

A webhook request is authenticated, stored once per event id and answered at once; the delivery
workers process stored events (``process_pending``), so a slow database write or a crash never
makes the provider wait or lose an event. Delivery-status notifications (RFC 3464) that reach the
bounce address are read by ``ingest_dsn`` the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from flask_mailroom.deliverability import dsn
from flask_mailroom.deliverability import suppression as deliverability
from flask_mailroom.deliverability.providers import (
    BOUNCE,
    PROVIDERS,
    Provider,
    Report,
    WebhookInvalid,
    WebhookRefused,
)
from flask_mailroom.models.deliverability import InboundEvent
from flask_mailroom.store import db, now

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024
BATCH = 100

__all__ = ["Receipt", "UnknownProvider", "WebhookInvalid", "WebhookRefused", "ingest_dsn",
           "process_pending", "receive"]


class UnknownProvider(LookupError):
    """No such provider, or it is not configured here (404)."""


@dataclass(frozen=True)
class Receipt:
    """The answer to a webhook request: the event id, and whether we already had it."""

    event_id: str
    duplicate: bool


def _provider(name: str) -> Provider:
    """A configured provider by name, or UnknownProvider."""
    found = PROVIDERS.get(name)
    if found is None or not found.configured(current_app.config):
        raise UnknownProvider(name)
    return found


def _payload(body: bytes) -> Any:
    """The request body as JSON, or WebhookInvalid."""
    if len(body) > MAX_BODY:
        raise WebhookInvalid("body", f"the body is larger than {MAX_BODY // 1024} KB")
    try:
        return json.loads(body)
    except ValueError:
        raise WebhookInvalid("body", "the body is not JSON") from None


def _readable(provider: Provider, payload: Any) -> None:
    """Refuse now an event that could never be processed (fields of the wrong shape)."""
    try:
        provider.reports(payload)
    except (AttributeError, TypeError, KeyError) as error:
        raise WebhookInvalid("body", f"the event cannot be read ({type(error).__name__})") from None


def receive(name: str, headers: Mapping[str, str], body: bytes) -> Receipt:
    """Authenticate a webhook request and store its event once; the event is processed later."""
    provider = _provider(name)
    payload = _payload(body)
    provider.authenticate(headers, body, payload, current_app.config, now())
    event_id = provider.event_id(payload)
    _readable(provider, payload)
    db.session.add(InboundEvent(provider=name, event_id=event_id, payload=payload, received_at=now()))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return Receipt(event_id, duplicate=True)
    return Receipt(event_id, duplicate=False)


def apply_report(report: Report, source: str) -> None:
    """One bounce or complaint into the address's state (the caller commits)."""
    outbox_id = deliverability.outbox_id_for(report.message_id)
    if report.kind == BOUNCE:
        deliverability.record_bounce(report.address, report.bounce or "hard", source, report.detail,
                                     outbox_id, report.occurred_at)
    else:
        deliverability.record_complaint(report.address, source, report.detail, outbox_id,
                                        report.occurred_at)


def _take(event_id: int) -> InboundEvent | None:
    """Mark a stored event processed, in the transaction that applies it; None if another took it."""
    taken = db.session.execute(update(InboundEvent).where(
        InboundEvent.id == event_id, InboundEvent.processed_at.is_(None)).values(processed_at=now()))
    if not getattr(taken, "rowcount", 0):
        db.session.rollback()
        return None
    return db.session.get(InboundEvent, event_id)


def _process(event_id: int) -> None:
    """Apply one stored event in one transaction."""
    event = _take(event_id)
    if event is None:
        return
    provider = PROVIDERS[event.provider]
    if event.payload.get("Type") == "SubscriptionConfirmation":
        log.warning("SNS asks to confirm a subscription to %s: open its SubscribeURL once",
                    event.payload.get("TopicArn"))
    for report in provider.reports(event.payload):
        apply_report(report, f"webhook:{event.provider}")
    db.session.commit()


def process_pending(limit: int = BATCH) -> int:
    """Apply stored webhook events not yet processed, oldest first; how many were looked at."""
    ids: Sequence[int] = list(db.session.scalars(
        select(InboundEvent.id).where(InboundEvent.processed_at.is_(None))
        .order_by(InboundEvent.id).limit(limit)))
    db.session.commit()
    for event_id in ids:
        try:
            _process(event_id)
        except Exception:
            db.session.rollback()
            log.exception("could not process webhook event %s", event_id)
    return len(ids)


def ingest_dsn(raw: bytes, source: str) -> int:
    """Record what a delivery-status notification (or complaint report) says; how many reports."""
    reports = dsn.read(raw)
    for report in reports:
        apply_report(report, source)
    db.session.commit()
    return len(reports)
