"""An announcement's honest state from its status and its copies' outbox statuses (pure logic)."""

from __future__ import annotations

import pytest

from mailroom.domain.progress import progress


@pytest.mark.parametrize(("status", "counts", "expected", "state", "percent"), [
    ("draft", {}, 0, "draft", 100),
    ("sending", {"queued": 3}, 10, "sending", 0),
    ("queued", {"queued": 2, "sending": 1, "sent": 7}, 10, "sending", 70),
    ("queued", {"sent": 10}, 10, "sent", 100),
    ("queued", {"sent": 8, "failed": 2}, 10, "partly failed", 100),
    ("queued", {"sent": 9, "expired": 1}, 10, "partly failed", 100),
    ("queued", {"failed": 4}, 4, "failed", 100),
    ("queued", {"sent": 12}, 10, "sent", 100),
])
def test_the_state_says_what_happened(status: str, counts: dict[str, int], expected: int, state: str,
                                      percent: int) -> None:
    found = progress(status, counts, expected)
    assert (found.state, found.percent) == (state, percent)


def test_progress_counts_each_fate() -> None:
    found = progress("queued", {"queued": 1, "sending": 1, "sent": 5, "failed": 2, "skipped": 1}, 10)
    assert (found.total, found.sent, found.not_delivered, found.waiting, found.settled) == (10, 5, 3, 2, 8)
    assert found.tone == "primary"
