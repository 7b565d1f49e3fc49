"""The frozen clock and the retry policy."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from flask_mailroom.clock import FrozenClock
from flask_mailroom.rules.backoff import RetryPolicy

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_frozen_clock_moves_only_when_told() -> None:
    clock = FrozenClock(T0)
    assert clock.now() == T0
    assert clock.advance(90) == T0 + timedelta(seconds=90)


def test_frozen_clock_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="timezone"):
        FrozenClock(datetime(2026, 1, 1))


def test_backoff_grows_exponentially_within_jitter_and_caps() -> None:
    policy = RetryPolicy(base_seconds=10, max_seconds=100, max_attempts=10)
    rng = random.Random(7)
    for attempt, ceiling in [(1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)]:
        delays = [policy.delay(attempt, rng) for _ in range(200)]
        assert min(delays) >= ceiling / 2
        assert max(delays) <= ceiling
        assert max(delays) - min(delays) > ceiling / 10  # jitter spreads retries


def test_attempts_run_out() -> None:
    policy = RetryPolicy(base_seconds=1, max_seconds=10, max_attempts=3)
    rng = random.Random(1)
    assert policy.next_attempt(2, T0, rng) is not None
    assert policy.next_attempt(3, T0, rng) is None
