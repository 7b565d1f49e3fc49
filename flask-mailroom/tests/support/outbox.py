"""Queueing many messages, reading the outbox, and starting ``flask mail`` processes of a test app."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select

from flask_mailroom.compose.outbox import Envelope, build_message, queue
from flask_mailroom.models.outbox import TRANSACTIONAL
from flask_mailroom.queue import OutboxMessage
from flask_mailroom.store import db

TESTS = Path(__file__).resolve().parents[1]
FLASK = str(Path(sys.executable).parent / "flask")


def queue_many(app: Flask, count: int, prefix: str = "msg", kind: str = TRANSACTIONAL,
               **envelope: Any) -> list[str]:
    """Queue ``count`` small messages (account mail unless ``kind``) in one transaction; their Message-IDs."""
    ids = []
    with app.app_context():
        for number in range(count):
            fields = {"recipients": [f"{prefix}{number}@example.com"], **envelope}
            message = build_message(Envelope(subject=f"{prefix} #{number}", **fields),
                                    f"Message {number} of {count}.\n", f"<p>Message {number}</p>")
            ids.append(queue(message, template="test", kind=kind).message_id)
        db.session.commit()
    return ids


def outbox_rows(app: Flask) -> list[OutboxMessage]:
    """Every outbox row, detached, in id order."""
    with app.app_context():
        rows = list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        db.session.expunge_all()
        db.session.commit()
        return rows


def process_env(app: Flask, **settings: object) -> dict[str, str]:
    """The environment of a ``flask --app support.apps`` process with this test app's database and
    mail server, and ``settings`` on top (each as a MINIMAL_* variable)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "MAIL_", "MINIMAL_"))}
    config = app.config
    values: dict[str, object] = {
        "MAIL_SERVER": config["MAIL_SERVER"], "MAIL_PORT": config["MAIL_PORT"],
        "MAIL_TIMEOUT": config["MAIL_TIMEOUT"], "MAIL_DEFAULT_SENDER": "noreply@mailroom.test",
        "SERVER_NAME": config["SERVER_NAME"], **settings}
    for key in ("SQLALCHEMY_DATABASE_URI", "MAILROOM_DATABASE_URL"):
        if config.get(key):
            values[key] = config[key]
    env.update({f"MINIMAL_{key}": str(value) for key, value in values.items()})
    env.update({"PYTHONPATH": str(TESTS), "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"})
    return env


def start_process(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a command in the tests' folder with its output in ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(argv, cwd=TESTS, env=env, stdout=out, stderr=subprocess.STDOUT)


def flask_command(*args: str) -> list[str]:
    """``flask --app support.apps <args>`` as an argument vector."""
    return [FLASK, "--app", "support.apps", *args]


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; whether it held."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            return False
        pause.wait(interval)
    return True
