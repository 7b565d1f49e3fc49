"""Helpers of the mail integration tests: queueing many messages, reading the outbox, worker processes."""

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
from flask_mailroom.compose.outbox import Envelope, build_message, queue
from flask_mailroom.models.outbox import TRANSACTIONAL
from sqlalchemy import select

from mailroom.config import ENV_KEYS
from mailroom.extensions import db
from mailroom.models import OutboxMessage

REPO = Path(__file__).resolve().parents[3]
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
        return rows


def process_env(app: Flask, **settings: object) -> dict[str, str]:
    """The environment of a Mailroom process using this test app's database and mail settings."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_KEYS and not k.startswith("FLASK_")}
    config = app.config
    env.update({
        "MAILROOM_ENV": "testing", "SECRET_KEY": config["SECRET_KEY"],
        "DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"], "SERVER_NAME": config["SERVER_NAME"],
        "MAIL_SERVER": str(config["MAIL_SERVER"]), "MAIL_PORT": str(config["MAIL_PORT"]),
        "MAIL_SUPPRESS_SEND": "0", "MAIL_TIMEOUT": str(config["MAIL_TIMEOUT"]),
        "PASSWORD_HASH_METHOD": config["PASSWORD_HASH_METHOD"], "PYTHONUNBUFFERED": "1",
    })
    env.update({key: str(value) for key, value in settings.items()})
    return env


def start_process(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a command of the repo with its output in ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def flask_command(*args: str) -> list[str]:
    """``flask --app mailroom <args>`` as an argument vector."""
    return [FLASK, "--app", "mailroom", *args]


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` seconds pass; whether it held."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            return False
        pause.wait(interval)
    return True
