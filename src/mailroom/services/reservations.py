"""Addresses given up by a change of address stay their owner's while the change can be undone.

Without this, anyone could register the freed address and block the owner's revert link.
A reservation ends when the revert window ends, when the owner says the change was theirs,
or when the revert puts the address back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete

from mailroom.domain.addresses import email_key
from mailroom.extensions import db
from mailroom.models import AddressReservation
from mailroom.state import now


def reserve(user_id: int, address: str, until: datetime) -> None:
    """Keep ``address`` for ``user_id`` until ``until`` (caller commits)."""
    key = email_key(address)
    row = db.session.get(AddressReservation, key)
    if row is None:
        db.session.add(AddressReservation(email_key=key, user_id=user_id, until=until))
    else:
        row.user_id, row.until = user_id, until


def holder(address: str) -> int | None:
    """The user an address is reserved for right now, if any."""
    row = db.session.get(AddressReservation, email_key(address))
    return row.user_id if row is not None and now() < row.until else None


def blocks(address: str, user_id: int | None) -> bool:
    """Whether the address is reserved for someone other than ``user_id`` (None: anyone)."""
    owner = holder(address)
    return owner is not None and owner != user_id


def release(user_id: int, address: str) -> None:
    """End the user's reservation of the address (caller commits)."""
    db.session.execute(delete(AddressReservation).where(
        AddressReservation.email_key == email_key(address), AddressReservation.user_id == user_id))
