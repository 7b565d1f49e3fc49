"""Which worker answers a notification of account mail at once, so that one claim goes looking for
each account email, not one per worker.

Every worker hears every notification. For one that names account mail only, the worker whose
place among the live workers (their ids in order, as the last heartbeat read them) is the
notifying session's backend process id modulo their number wakes a connection at once. Each of
the others notes it and looks once, CATCH_UP_SECONDS later, for any number of such notifications,
in case that worker could not take the mail (it died, or for a heartbeat the workers disagree
about who is alive). Bulk mail, mail of several kinds and notifications naming none wake every
worker, as does any notification while a worker does not see itself among the live ones.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask_mailroom.engine.lanes import named_kinds
from flask_mailroom.models.outbox import TRANSACTIONAL

# How long after a notification that was another worker's turn this worker looks for itself.
CATCH_UP_SECONDS = 0.25
ACCOUNT_ONLY = frozenset({TRANSACTIONAL})


class Turns:
    """One worker's view of the live workers, and whether a notification is its turn."""

    def __init__(self, worker_id: str) -> None:
        """No other worker seen yet: every notification is this worker's turn."""
        self.worker_id = worker_id
        self.peers: tuple[str, ...] = ()

    def saw(self, peers: Iterable[str]) -> None:
        """The ids of the workers a heartbeat found alive (this one among them, once published)."""
        self.peers = tuple(sorted(set(peers)))

    def answers(self, kinds: str | None, pid: int) -> bool:
        """Whether this worker looks at once for the mail that a notification from backend ``pid``
        announces (``kinds``, as the notification names them)."""
        peers = self.peers
        if named_kinds(kinds) != ACCOUNT_ONLY or self.worker_id not in peers:
            return True
        return peers[pid % len(peers)] == self.worker_id
