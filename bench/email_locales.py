"""What rendering each email in its recipient's language costs: the reset email composed for readers
of alternating languages (en, zh_Hans, zh_Hant, each in its own time zone) against the same email
composed for English readers only, in the same run. No database or SMTP is involved: this is the
rendering the worker does for every deferred reset email and every announcement copy.

    .venv/bin/python bench/email_locales.py [--messages 3000]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from flask_mailroom.compose.outbox import Envelope, compose

from mailroom import create_app

READERS = [("en", "UTC"), ("zh_Hans", "Asia/Shanghai"), ("zh_Hant", "Asia/Taipei")]


def compose_many(count: int, readers: list[tuple[str, str]]) -> float:
    """Seconds to compose ``count`` password-changed notices, cycling through ``readers``."""
    started = time.perf_counter()
    for number in range(count):
        locale, zone = readers[number % len(readers)]
        compose("password_changed", Envelope(recipients=[("陈伟", "wei@example.com")]), locale=locale,
                timezone=zone, name="陈伟", changed_at=datetime(2026, 3, 2, 9, tzinfo=UTC),
                request_link="https://mailroom.example/auth/reset_password_request")
    return time.perf_counter() - started


def main() -> None:
    """Print messages per second for English only and for alternating languages, and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    count = parser.parse_args().messages
    app = create_app({"MAILROOM_ENV": "testing", "SECRET_KEY": "bench-" + "k" * 40,
                      "SQLALCHEMY_DATABASE_URI": "sqlite://", "SERVER_NAME": "mailroom.example"})
    with app.app_context():
        compose_many(30, READERS)  # warm the template and catalogue caches
        english = compose_many(count, [READERS[0]])
        mixed = compose_many(count, READERS)
    print(f"{count} messages, English only:          {count / english:8.0f} per second (baseline)")
    print(f"{count} messages, alternating languages: {count / mixed:8.0f} per second")
    print(f"alternating / English-only time: {mixed / english:.2f}")


if __name__ == "__main__":
    main()
