"""New mail wakes one idle connection that can take it: the reserved lane's for account mail, a
bulk connection for bulk, one of each when the notification does not say."""

from __future__ import annotations

import threading
import time

import pytest

from flask_mailroom.engine.lanes import Lanes

WAIT = 30.0


@pytest.fixture
def lanes() -> Lanes:
    """Three connections, the first reserved for account mail."""
    return Lanes(threading.Event(), total=3, reserved=1)


def waiting(lanes: Lanes, number: int, account_only: bool,
            events: dict[int, threading.Event]) -> threading.Thread:
    """Connection ``number`` idle on its own thread, queued in its lane before this returns (its
    wake-up call kept in ``events``)."""
    before = len(lanes.waiting[account_only])
    thread = threading.Thread(target=lanes.idle, args=(number, account_only, lanes.generation, WAIT),
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while len(lanes.waiting[account_only]) == before and time.monotonic() < deadline:
        threading.Event().wait(0.001)  # until the thread has joined its lane's waiting line
    assert len(lanes.waiting[account_only]) == before + 1
    events[number] = lanes.waiting[account_only][-1]
    return thread


def wake_and_see(lanes: Lanes, kinds: str | None, threads: list[threading.Thread],
                 events: dict[int, threading.Event]) -> list[int]:
    """Announce new mail of ``kinds``: which connections it woke (then stop them all)."""
    lanes.new_mail(kinds)
    woken = sorted(number for number, event in events.items() if event.is_set())
    lanes.stop.set()
    lanes.notify()
    for thread in threads:
        thread.join(5)
    assert not any(thread.is_alive() for thread in threads)
    return woken


@pytest.mark.parametrize(("kinds", "expected"), [
    ("transactional", [0]),
    ("bulk", [1]),
    ("bulk transactional", [0, 1]),
    ("", [0, 1]),
    (None, [0, 1]),
])
def test_new_mail_wakes_a_connection_that_can_take_it(lanes: Lanes, kinds: str | None,
                                                       expected: list[int]) -> None:
    events: dict[int, threading.Event] = {}
    threads = [waiting(lanes, 0, True, events), waiting(lanes, 1, False, events),
               waiting(lanes, 2, False, events)]
    assert wake_and_see(lanes, kinds, threads, events) == expected


def test_account_mail_wakes_a_bulk_connection_when_no_reserved_one_is_idle(lanes: Lanes) -> None:
    events: dict[int, threading.Event] = {}
    threads = [waiting(lanes, 1, False, events), waiting(lanes, 2, False, events)]
    assert wake_and_see(lanes, "transactional", threads, events) == [1]


def test_mail_announced_since_the_last_claim_ends_the_wait_at_once(lanes: Lanes) -> None:
    since = lanes.generation
    lanes.new_mail("transactional")  # nobody waited: the next wait sees the new generation
    started = time.monotonic()
    lanes.idle(0, True, since, WAIT)
    assert time.monotonic() - started < WAIT / 2


def test_mail_handed_to_an_idle_connection_does_not_send_busy_ones_looking(lanes: Lanes) -> None:
    events: dict[int, threading.Event] = {}
    since = lanes.generation  # connection 2 claims (and finds nothing) while 0 waits idle
    threads = [waiting(lanes, 0, True, events)]
    lanes.new_mail("transactional")
    assert events[0].is_set()
    assert lanes.generation == since  # 2's next wait lasts: the reserved connection takes the mail
    lanes.new_mail("bulk")  # no bulk connection idle: 2 looks as soon as it is free
    assert lanes.generation != since
    lanes.stop.set()
    lanes.notify()
    for thread in threads:
        thread.join(5)
