"""The sign-in throttle's rules with an injected clock: free tries, growing delays, the lockout."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailroom.domain.throttle import ThrottlePolicy, ThrottleRecord

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
POLICY = ThrottlePolicy(free_failures=3, base_delay=2, max_delay=10, lockout_after=8, lockout=900,
                        window=3600)


def failed(times: int, policy: ThrottlePolicy = POLICY) -> ThrottleRecord:
    """The record after ``times`` failures, one second apart."""
    record = None
    for n in range(times):
        record = policy.fail(record, START + timedelta(seconds=n))
    assert record is not None
    return record


def test_free_failures_cost_nothing_then_delays_double_up_to_the_cap() -> None:
    waits = [POLICY.wait(failed(n), START + timedelta(seconds=n - 1)) for n in range(1, 8)]
    assert waits == [0, 0, 0, 2, 4, 8, 10]


def test_the_lockout_refuses_for_its_whole_length_and_each_later_failure_renews_it() -> None:
    record = failed(8)
    last = START + timedelta(seconds=7)
    assert POLICY.wait(record, last) == 900
    assert POLICY.wait(record, last + timedelta(seconds=899)) == 1
    assert POLICY.wait(record, last + timedelta(seconds=900)) == 0
    again = POLICY.fail(record, last + timedelta(seconds=900))
    assert POLICY.wait(again, last + timedelta(seconds=900)) == 900


def test_the_episode_ends_a_window_after_the_last_failure() -> None:
    record = failed(8)
    later = START + timedelta(seconds=7 + 3600)
    assert POLICY.wait(record, later) == 0
    assert POLICY.fail(record, later).failures == 1
    assert POLICY.lifetime(record, later) == 0
    assert POLICY.lifetime(record, START) == 3607


def test_suspicion_begins_after_the_free_failures() -> None:
    assert not POLICY.is_suspicious(failed(3))
    assert POLICY.is_suspicious(failed(4))
