"""Online password guessing: how many guesses one client gets judged per hour, throttled or not.

Run: ``.venv/bin/python bench/signin_guessing.py [--seconds 3600] [--every 6]``.

One run, one app on a scratch SQLite file, one account. A guesser posts a wrong password through
the real sign-in form every ``--every`` seconds of a frozen clock for ``--seconds``, once with the
throttle off (``RATELIMIT_ENABLED=0``: the baseline, what the site allowed before) and once with
the defaults. Counted: guesses that were judged (a 400, the password checked) and refusals (429).
Also timed (wall clock, medians): a judged attempt and a refused one, since a refusal skips the
password hash. The last line is ``judged throttled/baseline=<ratio> refused/judged time=<ratio>``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from common import scratch_database
from flask import Flask
from flask_mailroom.clock import FrozenClock
from flask_migrate import upgrade

from mailroom import create_app
from mailroom.extensions import db
from mailroom.services import accounts
from mailroom.state import state

SECRET = "bench-secret-" + "k" * 32


def site(uri: str, throttled: bool) -> tuple[Flask, FrozenClock]:
    """A production-like app on ``uri`` with its own frozen clock and one account."""
    app = create_app({"MAILROOM_ENV": "testing", "SECRET_KEY": SECRET, "SQLALCHEMY_DATABASE_URI": uri,
                      "SERVER_NAME": "bench.test", "WTF_CSRF_ENABLED": False,
                      "RATELIMIT_ENABLED": throttled, "RATELIMIT_STORAGE_URI": "memory://"})
    clock = FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    state(app).clock = clock
    return app, clock


Timings = dict[int, list[float]]


def guess(app: Flask, clock: FrozenClock, seconds: int, every: int) -> tuple[Counter[int], Timings]:
    """Guess every ``every`` simulated seconds; statuses, and wall times by status."""
    client = app.test_client()
    statuses: Counter[int] = Counter()
    times: Timings = {}
    for _ in range(seconds // every):
        started = time.perf_counter()
        reply = client.post("/auth/login", data={"identifier": "alice", "password": "wrong guess"})
        status = reply.status_code
        times.setdefault(status, []).append(time.perf_counter() - started)
        statuses[status] += 1
        clock.advance(every)
    return statuses, times


def run(args: Any) -> None:
    """Both runs on one database, then the figures."""
    with scratch_database("sqlite") as uri:
        baseline_app, baseline_clock = site(uri, throttled=False)
        with baseline_app.app_context():
            upgrade()
            db.session.add(accounts.new_user("alice", "alice@example.com", "the real passphrase"))
            db.session.commit()
        base, base_times = guess(baseline_app, baseline_clock, args.seconds, args.every)
        throttled_app, throttled_clock = site(uri, throttled=True)
        limited, limited_times = guess(throttled_app, throttled_clock, args.seconds, args.every)
        for app in (baseline_app, throttled_app):
            with app.app_context():
                db.engine.dispose()
    judged_ms = statistics.median(limited_times[400]) * 1000
    refused_ms = statistics.median(limited_times.get(429, [0.0])) * 1000
    print(f"one client, one account, a guess every {args.every} s for {args.seconds} s:")
    print(f"  baseline (no throttle): {base[400]} judged, {base[429]} refused "
          f"(median {statistics.median(base_times[400]) * 1000:.1f} ms)")
    print(f"  throttled (defaults):   {limited[400]} judged, {limited[429]} refused "
          f"(judged {judged_ms:.1f} ms, refused {refused_ms:.1f} ms)")
    print(f"judged throttled/baseline={limited[400] / base[400]:.4f} "
          f"refused/judged time={refused_ms / judged_ms:.2f}")


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=3600)
    parser.add_argument("--every", type=int, default=6)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
