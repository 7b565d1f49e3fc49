"""The honest state of an announcement: draft, sending (how far), sent, partly failed or failed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

WAITING = ("queued", "sending")
# Badge colours (Bootstrap) of each state, chosen for AA contrast with their text.
TONES = {"draft": "secondary", "sending": "primary", "sent": "success", "partly failed": "warning",
         "failed": "danger"}


@dataclass(frozen=True)
class Progress:
    """Where an announcement's copies are: delivered, given up, still on their way."""

    state: str
    total: int
    sent: int
    not_delivered: int
    waiting: int

    @property
    def settled(self) -> int:
        """Copies whose fate is known (delivered or given up)."""
        return self.sent + self.not_delivered

    @property
    def percent(self) -> int:
        """How much of the send is settled, in whole percent."""
        return 100 if not self.total else min(100, round(100 * self.settled / self.total))

    @property
    def tone(self) -> str:
        """The badge colour of the state."""
        return TONES[self.state]


def progress(status: str, counts: Mapping[str, int], expected: int) -> Progress:
    """The state from the announcement's own status (draft, sending while copies are being queued,
    queued once they all are), its copies' outbox statuses, and how many recipients it expects."""
    sent = counts.get("sent", 0)
    waiting = sum(counts.get(s, 0) for s in WAITING)
    not_delivered = sum(counts.values()) - sent - waiting
    total = max(expected, sent + waiting + not_delivered)
    if status == "draft":
        state = "draft"
    elif status == "sending" or waiting:
        state = "sending"
    elif not_delivered:
        state = "partly failed" if sent else "failed"
    else:
        state = "sent"
    return Progress(state, total, sent, not_delivered, waiting)
