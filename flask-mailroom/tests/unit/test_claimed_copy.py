"""A claimed row's copy with changes (``Claimed.but``) is what ``dataclasses.replace`` gives."""

from __future__ import annotations

import dataclasses

import pytest

from flask_mailroom.models.outbox import Claimed


def claimed() -> Claimed:
    """A claimed row as a claim returns it."""
    return Claimed(id=7, message_id="<7@example.com>", priority=10, sender="a@example.com",
                   recipients=["b@example.com"], raw=b"", attempts=1, max_attempts=5,
                   meta={"deferred": "reset"})


def test_a_copy_changes_only_what_it_is_given() -> None:
    row = claimed()
    copied = row.but(raw=b"bytes", recipients=["c@example.com"])
    assert copied == dataclasses.replace(row, raw=b"bytes", recipients=["c@example.com"])
    assert row.raw == b""
    assert row.recipients == ["b@example.com"]
    assert type(copied) is Claimed


def test_a_copy_stays_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        claimed().but(raw=b"x").raw = b"y"  # type: ignore[misc]


def test_an_unknown_field_is_refused_as_replace_refuses_it() -> None:
    with pytest.raises(TypeError, match="rwa"):
        claimed().but(rwa=b"typo")
