"""The one state a code is in: pending, void (wrong tries), expired, or used."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailroom.domain.codes import CodePolicy, CodeRecord, CodeState, code_state

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RULES = CodePolicy(ttl=600, max_attempts=5, resend_cooldown=60)


def issued() -> CodeRecord:
    """A code issued just now."""
    return RULES.issue(None, "hash", "a@example.com", NOW)


def test_a_new_code_is_pending_then_expired() -> None:
    assert code_state(issued(), NOW, 5) is CodeState.PENDING
    assert code_state(issued(), NOW + timedelta(seconds=600), 5) is CodeState.EXPIRED
    assert code_state(None, NOW, 5) is CodeState.EXPIRED


def test_the_last_wrong_try_voids_it_until_the_tries_are_forgotten() -> None:
    record = issued()
    for _ in range(5):
        record = RULES.redeem(record, lambda _: False, NOW).record
    assert code_state(record, NOW, 5) is CodeState.VOID
    assert code_state(record, NOW + timedelta(seconds=599), 5) is CodeState.VOID
    assert code_state(record, NOW + timedelta(seconds=600), 5) is CodeState.USED


def test_a_redeemed_code_is_used() -> None:
    record = RULES.redeem(issued(), lambda _: True, NOW).record
    assert code_state(record, NOW, 5) is CodeState.USED
