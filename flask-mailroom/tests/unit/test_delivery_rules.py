"""The delivery engine's pure rules: circuit breaker, leases, rate-limit slots, throttling."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from flask_mailroom.rules.breaker import BreakerState, CircuitBreaker
from flask_mailroom.rules.leases import LeasePolicy
from flask_mailroom.rules.pacing import Rate, RateInvalid, Throttle, ahead_for, parse_rate, take_slot
from flask_mailroom.settings import DeliverySettings

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_the_breaker_opens_on_failure_lets_one_probe_through_and_closes_on_success() -> None:
    rng = random.Random(1)
    breaker = CircuitBreaker(base_seconds=1, max_seconds=30)
    assert breaker.allow(0)
    breaker.failed(0, rng)
    assert breaker.state is BreakerState.OPEN
    breaker.failed(0.1, rng)  # a connection that tried at the same time changes nothing
    assert breaker.openings == 1
    assert 0.5 <= breaker.wait(0) <= 1
    assert not breaker.allow(0.4)
    assert breaker.allow(1.0), "after the delay the first caller is the probe"
    assert breaker.state is BreakerState.HALF_OPEN
    assert not breaker.allow(1.0), "one probe at a time"
    breaker.succeeded()
    assert breaker.allow(1.1)


def test_a_failed_probe_opens_the_breaker_for_longer_up_to_the_cap() -> None:
    rng = random.Random(2)
    breaker = CircuitBreaker(base_seconds=1, max_seconds=8)
    now = 0.0
    delays = []
    for _ in range(6):
        breaker.failed(now, rng)
        delays.append(breaker.wait(now))
        now = breaker.retry_at
        assert breaker.allow(now)
    assert delays[1] >= 1
    assert delays[3] >= 4
    assert max(delays) <= 8
    assert sum(1 for _ in delays) == 6


def test_an_abandoned_probe_lets_another_caller_probe() -> None:
    breaker = CircuitBreaker()
    breaker.failed(0, random.Random(3))
    assert breaker.allow(100)
    breaker.abandoned()
    assert breaker.allow(100)


def test_refused_connections_in_a_20_second_outage_stay_few() -> None:
    rng = random.Random(4)
    breaker = CircuitBreaker(base_seconds=1, max_seconds=30)
    tries, now = 0, 0.0
    while now < 20:
        if breaker.allow(now):
            tries += 1
            breaker.failed(now, rng)
        now += 0.01
    assert tries <= 8


def test_a_lease_is_renewed_at_half_life_and_not_used_after_three_quarters() -> None:
    policy = LeasePolicy.of_seconds(20)
    assert policy.until(T0) == T0 + timedelta(seconds=20)
    assert policy.heartbeat_seconds() == 5
    assert not policy.renew_due(T0, T0 + timedelta(seconds=9))
    assert policy.renew_due(T0, T0 + timedelta(seconds=10))
    assert policy.may_start(T0, T0 + timedelta(seconds=14.9))
    assert not policy.may_start(T0, T0 + timedelta(seconds=15))


@pytest.mark.parametrize(("text", "rate"), [("14/second", Rate(14, 1)), ("14 per second", Rate(14, 1)),
                                            ("600/minute", Rate(600, 60)), ("10/5s", Rate(10, 5)),
                                            ("50000/day", Rate(50000, 86400)), ("3/hours", Rate(3, 3600))])
def test_rates_are_read_as_operators_write_them(text: str, rate: Rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["", "fast", "0/second", "14/fortnight", "-1/s", "14"])
def test_unreadable_rates_are_refused(text: str) -> None:
    with pytest.raises(RateInvalid, match="not a rate"):
        parse_rate(text)


def test_bulk_takes_only_free_slots_and_account_mail_books_ahead() -> None:
    interval = 0.1
    first = take_slot(0.0, 10.0, interval, ahead_for(False, interval))
    assert (first.granted, first.wait, first.tat) == (True, 0.0, 10.1)
    bulk = take_slot(first.tat, 10.0, interval, ahead_for(False, interval))
    assert not bulk.granted
    assert bulk.wait == pytest.approx(0.1)
    account = take_slot(first.tat, 10.0, interval, ahead_for(True, interval))
    assert account.granted
    assert account.wait == pytest.approx(0.1)
    assert account.tat == pytest.approx(10.2)


def test_slots_hold_the_rate_over_time() -> None:
    interval, tat, now, granted = 1 / 14, 0.0, 0.0, 0
    while now < 10:
        slot = take_slot(tat, now, interval, 0.0)
        if slot.granted:
            granted += 1
            tat = slot.tat
        now += 0.001
    assert 139 <= granted <= 141


def test_throttling_pauses_grow_and_reset_after_a_delivery() -> None:
    rng = random.Random(5)
    throttle = Throttle(base_seconds=1, max_seconds=60)
    pauses = [throttle.hit(0, rng) for _ in range(4)]
    assert 0.5 <= pauses[0] <= 1
    assert 4 <= pauses[3] <= 8
    assert throttle.wait(0) == pytest.approx(max(pauses))
    throttle.cleared()
    assert 0.5 <= throttle.hit(100, rng) <= 1


def test_the_engine_settings_have_the_documented_defaults() -> None:
    assert DeliverySettings.of({}) == DeliverySettings(connections=8, reserved=1, rate=None, claim_ttl=20.0,
                                                       batch_size=100, max_throttles=30)
    found = DeliverySettings.of({"MAIL_CONNECTIONS": 1, "MAIL_RESERVED_CONNECTIONS": 3,
                                 "MAIL_RATE_LIMIT": "14/second"})
    assert (found.connections, found.reserved, found.rate) == (1, 0, Rate(14, 1.0)), (
        "at least one connection carries bulk")


@pytest.mark.parametrize(("setting", "value", "named"), [
    ("MAIL_CONNECTIONS", 0, "MAIL_CONNECTIONS must be at least 1"),
    ("MAIL_RESERVED_CONNECTIONS", -1, "MAIL_RESERVED_CONNECTIONS cannot be negative"),
    ("OUTBOX_CLAIM_TTL", 3, "OUTBOX_CLAIM_TTL must be at least 4 seconds"),
    ("OUTBOX_MAX_THROTTLES", 0, "OUTBOX_MAX_THROTTLES must be at least 1"),
    ("MAIL_RATE_LIMIT", "fast", "MAIL_RATE_LIMIT: not a rate"),
])
def test_wrong_engine_settings_are_named(setting: str, value: object, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        DeliverySettings.of({setting: value})


def test_a_worker_keeps_a_database_connection_per_smtp_connection_and_per_preparer() -> None:
    many, one = DeliverySettings.of({"MAIL_CONNECTIONS": 32}), DeliverySettings.of({"MAIL_CONNECTIONS": 1})
    assert (many.preparers, many.database_connections) == (4, 40)
    assert (one.preparers, one.database_connections) == (1, 6)
