"""The application's side of deliverability: what the account page says about a bounced address,
the owner asking us to try again, and a complaint unsubscribing its owner from announcements."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask
from flask_mailroom import deliverability

from mailroom.extensions import db
from mailroom.models import User
from mailroom.services.accounts import find_by_email


@dataclass(frozen=True)
class Bounced:
    """What the account page's banner says: since when mail to the address does not go out, and why."""

    address: str
    since: datetime
    reason: str
    bulk_only: bool


def bounced(user: User) -> Bounced | None:
    """The suppression of the user's address as the banner shows it, or None."""
    found = deliverability.suppression_of(user.email)
    db.session.commit()
    if found is None:
        return None
    return Bounced(user.email, found.created_at, found.reason, found.scope == "bulk")


def try_again(user: User) -> bool:
    """The owner says the address works again: lift its suppression (a new bounce suppresses it anew)."""
    return deliverability.lift(user.email, "owner")


def unsubscribe_complainer(sender: Any, address: str, **extra: Any) -> None:
    """A complaint about our mail: stop announcements to that account (in the complaint's transaction)."""
    user = find_by_email(address)
    if user is not None:
        user.subscribed = False


def register(app: Flask) -> None:
    """Listen for complaints recorded by this application's mail core."""
    deliverability.complained.connect(unsubscribe_complainer, sender=app, weak=False)
