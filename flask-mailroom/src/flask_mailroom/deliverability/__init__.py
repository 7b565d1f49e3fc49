"""Deliverability: the suppression list fed by bounces and complaints, delivery-status notifications,
provider webhooks, the bounce mailbox, per-address and per-message timelines, and ``mail doctor``.

Operators and hosts use these names; the modules below are the implementation.
"""

from flask_mailroom.deliverability.suppression import (
    complained,
    lift,
    record_skip,
    suppression_of,
    suppressions,
)
from flask_mailroom.deliverability.timeline import Entry, for_address, for_message, headers_of
from flask_mailroom.deliverability.webhooks import webhooks
from flask_mailroom.models.deliverability import InboundEvent, MailEvent, Suppression

__all__ = [
    "Entry",
    "InboundEvent",
    "MailEvent",
    "Suppression",
    "complained",
    "for_address",
    "for_message",
    "headers_of",
    "lift",
    "record_skip",
    "suppression_of",
    "suppressions",
    "webhooks",
]
