"""Fixtures of the mail integration tests."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from mailroom.models import OutboxMessage
from tests.integration.mail.helpers import outbox_rows, queue_many


@pytest.fixture
def queue_messages(app: Flask) -> Callable[..., list[str]]:
    """``queue_messages(count, prefix=..., **envelope)`` -> the Message-IDs, committed."""
    return lambda count, prefix="msg", **envelope: queue_many(app, count, prefix, **envelope)


@pytest.fixture
def rows(app: Flask) -> Callable[[], list[OutboxMessage]]:
    """``rows()`` -> every outbox row now, in id order."""
    return lambda: outbox_rows(app)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; any still running at the end are killed and reaped."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(30)
