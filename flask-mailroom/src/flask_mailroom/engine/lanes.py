"""A worker's lanes of connections: which have work, which wait idle, and waking the idle ones.

The first ``reserved`` connections are the reserved lane (account mail only); the others take
account mail first, then bulk. New mail wakes one idle connection that can take it, not all of
them (they would race for the same row): for account mail one of the reserved lane (else of the
other), for bulk one of the other lane; a notification that does not say which kinds came wakes
one of each. Mail that found no idle connection to wake is looked for by each busy connection as
it comes free (the generation). A connection whose claim left due rows behind calls the next one
in.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from flask_mailroom.models.outbox import BULK, TRANSACTIONAL


def named_kinds(kinds: str | None) -> frozenset[str]:
    """The kinds of mail a notification names (space-separated; none when empty or unknown)."""
    return frozenset((kinds or "").split())


class Lanes:
    """The connections of one run: who has had work, who waits idle now, and their wake-up calls."""

    def __init__(self, stop: threading.Event, total: int, reserved: int) -> None:
        """``total`` connections, the first ``reserved`` of them for account mail only."""
        self.stop = stop
        self.total = total
        self.reserved = reserved
        self.lock = threading.Lock()
        self.wake = threading.Condition()
        self.generation = 0
        # Idle connections waiting for work, per lane (True: the reserved lane), longest waiting first.
        self.waiting: dict[bool, deque[threading.Event]] = {True: deque(), False: deque()}
        # Connections (by number) that have had work, and those idle now.
        self.claiming: set[int] = set()
        self.idle_numbers: set[int] = set()
        # Whether new mail is announced (a listener hears the database's notifications).
        self.hearing = False

    def served(self, number: int) -> None:
        """Connection ``number`` got rows from a claim, or stopped: from now on it is counted as
        spare only while it waits idle."""
        with self.lock:
            self.claiming.add(number)

    def spare(self, number: int, account_only: bool) -> bool:
        """Whether a connection other than ``number`` that could take the same work is idle or has
        not had any yet (one busy between two claims, or still waiting for its first, is not
        counted against it: starting connections get their share)."""
        lane = range(self.total) if account_only else range(self.reserved, self.total)
        with self.lock:
            return any(other != number and (other in self.idle_numbers or other not in self.claiming)
                       for other in lane)

    def heard(self, listening: bool) -> None:
        """The listener started (True) or stopped (False) hearing the database's notifications."""
        self.hearing = listening

    def hears_new_mail(self) -> bool:
        """Whether new mail is announced as it is committed: a connection whose claim left nothing
        behind may then wait for the next wake-up instead of looking again at once."""
        return self.hearing

    def notify(self) -> None:
        """Wake every idle connection (the worker stops)."""
        with self.wake:
            self.generation += 1
            for waiting in self.waiting.values():
                while waiting:
                    waiting.popleft().set()
            self.wake.notify_all()

    def new_mail(self, kinds: str | None = None) -> None:
        """New mail was committed (``kinds``: the notification's space-separated kinds, empty or
        None when unknown): wake an idle connection that can take each kind. Only mail that no idle
        connection was woken for changes the generation, so that busy connections look for it as
        soon as they are free (and not, after every account email, for one already taken).

        Waking one of each lane for an account email cost each worker an empty claim."""
        named = named_kinds(kinds)
        account = TRANSACTIONAL in named or not named
        bulk = BULK in named or not named
        with self.wake:
            handed = True
            if account:
                # No reserved connection idle: one that takes account mail first (the bulk one
                # woken below does, when bulk came too).
                handed = self._wake_one(True) or bulk or self._wake_one(False)
            if bulk:
                handed = self._wake_one(False) and handed
            if not handed:
                self.generation += 1

    def _wake_one(self, account_only: bool) -> bool:
        """Wake the longest-waiting idle connection of a lane, if any (the caller holds ``wake``)."""
        if not self.waiting[account_only]:
            return False
        self.waiting[account_only].popleft().set()
        return True

    def call_next(self) -> None:
        """A connection found work: wake one more idle connection that may carry bulk."""
        with self.wake:
            waiting = self.waiting[False]
            if waiting:
                waiting.popleft().set()

    def idle(self, number: int, account_only: bool, since: int, seconds: float) -> None:
        """Connection ``number`` waits idle until woken (new mail after generation ``since``, or
        called in), ``seconds``, or stop."""
        with self._idle_now(number):
            self._wait(account_only, since, seconds)

    @contextmanager
    def _idle_now(self, number: int) -> Iterator[None]:
        """Mark connection ``number`` as idle, waiting for work, while the block runs."""
        with self.lock:
            self.idle_numbers.add(number)
        try:
            yield
        finally:
            with self.lock:
                self.idle_numbers.discard(number)

    def _wait(self, account_only: bool, since: int, seconds: float) -> None:
        """Queue up in the lane's waiting line and wait for a wake-up, ``seconds``, or stop."""
        woken = threading.Event()
        waiting = self.waiting[account_only]
        with self.wake:
            if self.generation != since or self.stop.is_set():
                return
            waiting.append(woken)
        woken.wait(seconds)
        with self.wake:
            if woken in waiting:
                waiting.remove(woken)
