"""One worker answers each notification of account mail at once, chosen by the notifying backend
among the live workers; the others look once, a moment later, for any number of them."""

from __future__ import annotations

import threading

from sqlalchemy.engine import make_url

from flask_mailroom.engine.turns import CATCH_UP_SECONDS, Turns
from flask_mailroom.engine.wakeup import Listener

WORKERS = ("worker-b", "worker-a", "worker-c")


def turns_of(peers: tuple[str, ...] = WORKERS) -> list[Turns]:
    """Each worker's turns, every one having seen ``peers`` alive."""
    found = [Turns(worker) for worker in WORKERS]
    for turns in found:
        turns.saw(peers)
    return found


def test_each_account_notification_is_one_workers_turn_and_the_turns_spread() -> None:
    workers = turns_of()
    answering = [[t.worker_id for t in workers if t.answers("transactional", pid)] for pid in range(300)]
    assert all(len(found) == 1 for found in answering)
    counts = {worker: sum(found == [worker] for found in answering) for worker in WORKERS}
    assert counts == dict.fromkeys(WORKERS, 100)


def test_bulk_mixed_and_unnamed_notifications_wake_every_worker() -> None:
    for kinds in ("bulk", "transactional bulk", "", None):
        assert all(t.answers(kinds, 7) for t in turns_of())


def test_a_worker_that_does_not_see_itself_alive_answers_everything() -> None:
    # Before its first heartbeat, or after it was taken for dead.
    assert all(t.answers("transactional", pid) for t in turns_of(("worker-a",))[::2] for pid in range(9))
    assert all(Turns("worker-d").answers("transactional", pid) for pid in range(9))


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        """At zero."""
        self.seconds = 0.0

    def __call__(self) -> float:
        """The time now."""
        return self.seconds


def listener(turns: Turns, clock: Clock, woken: list[str | None]) -> Listener:
    """A listener (not started) that notes each wake-up."""
    return Listener(make_url("postgresql+psycopg://x@127.0.0.1/test"), woken.append, threading.Event(),
                    turns=turns, clock=clock)


def test_another_workers_turn_is_looked_at_once_a_moment_later_for_any_number_of_them() -> None:
    turns, clock, woken = turns_of()[0], Clock(), []  # worker-b: second of the sorted three
    heard = listener(turns, clock, woken)
    heard.pass_on("transactional", 1)  # its turn: at once
    assert woken == ["transactional"]
    for pid in (0, 2, 3, 5):  # the others' turns
        heard.pass_on("transactional", pid)
        clock.seconds += 0.01
    heard.catch_up()
    assert woken == ["transactional"]
    assert heard._timeout() < CATCH_UP_SECONDS
    clock.seconds = CATCH_UP_SECONDS
    heard.catch_up()
    heard.catch_up()
    assert woken == ["transactional", "transactional"]  # one look for all four
    heard.pass_on("bulk", 0)
    assert woken[-1] == "bulk"
