"""New mail wakes one idle connection, of the reserved lane first; a wait says whether mail woke it."""

from __future__ import annotations

import threading
import time

from flask_mailroom.engine.lanes import Lanes

WAIT = 30.0


def idle_in_thread(lanes: Lanes, number: int, account_only: bool,
                   results: dict[int, bool]) -> threading.Thread:
    """Connection ``number`` waiting idle on its own thread, queued before this returns."""
    queued = len(lanes.waiting[account_only])
    thread = threading.Thread(
        target=lambda: results.__setitem__(number, lanes.idle(number, account_only, lanes.generation, WAIT)),
        daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while len(lanes.waiting[account_only]) == queued and time.monotonic() < deadline:
        threading.Event().wait(0.001)  # until the thread has joined its lane's waiting line
    assert len(lanes.waiting[account_only]) == queued + 1
    return thread


def test_new_mail_wakes_the_reserved_connection_only() -> None:
    lanes, results = Lanes(threading.Event(), total=3, reserved=1), {}
    reserved = idle_in_thread(lanes, 0, True, results)
    bulk = idle_in_thread(lanes, 1, False, results)
    lanes.new_mail()
    reserved.join(5)
    assert results == {0: True}
    assert bulk.is_alive()
    lanes.call_next()  # the reserved connection found nothing it may take: it calls bulk in
    bulk.join(5)
    assert results == {0: True, 1: True}


def test_without_an_idle_reserved_connection_a_bulk_one_is_woken() -> None:
    lanes, results = Lanes(threading.Event(), total=3, reserved=1), {}
    first = idle_in_thread(lanes, 1, False, results)
    second = idle_in_thread(lanes, 2, False, results)
    lanes.new_mail()
    first.join(5)
    assert results == {1: True}
    assert second.is_alive()
    lanes.stop.set()
    lanes.notify()
    second.join(5)
    assert results == {1: True, 2: False}  # woken to stop, not for mail


def test_a_wait_that_runs_out_was_not_for_mail() -> None:
    lanes = Lanes(threading.Event(), total=2, reserved=1)
    assert lanes.idle(0, True, lanes.generation, 0.001) is False


def test_mail_announced_since_the_last_claim_ends_the_wait_at_once() -> None:
    lanes = Lanes(threading.Event(), total=2, reserved=1)
    since = lanes.generation
    lanes.new_mail()  # nobody waited: the next wait sees the new generation
    assert lanes.idle(0, True, since, WAIT) is True
