"""Per-application state kept in ``app.extensions["mailroom"]``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, current_app
from flask_mailroom.clock import Clock, SystemClock

KEY = "mailroom"


@dataclass
class MailroomState:
    """What one application instance holds beyond its config: the clock and long-lived helpers."""

    clock: Clock = field(default_factory=SystemClock)
    services: dict[str, Any] = field(default_factory=dict)


def state(app: Flask | None = None) -> MailroomState:
    """The state of the given application, or of the current one."""
    target = app if app is not None else current_app
    found = target.extensions[KEY]
    assert isinstance(found, MailroomState)
    return found


def now() -> datetime:
    """The current time by the application's clock (frozen in tests)."""
    return state().clock.now()
