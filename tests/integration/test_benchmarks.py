"""Every benchmark in bench/ still runs to its result line, at a size that takes seconds.

The figures are not judged here (speed is shown by running the benchmarks in full, never by a
timed assertion); this only keeps the scripts from rotting as the code under them changes.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import services

BENCH = Path(__file__).resolve().parents[2] / "bench"
NUMBER = r"-?[\d.]+"
CASES = {
    "priority.py": (["--messages", "300", "--baseline-messages", "30", "--smtp-latency", "0.02",
                     "--idle-samples", "3"],
                    rf"reset_delay_s={NUMBER} idle_median_s={NUMBER} bulk_rate={NUMBER} "
                    rf"target={NUMBER} bulk/baseline={NUMBER} peak_mb={NUMBER}"),
    "delivery.py": (["--messages", "100", "--per-connection", "20", "--rounds", "1"],
                    rf"worker/smtplib={NUMBER} worker/per-connection={NUMBER}"),
    "fanout.py": (["--users", "200", "--attachment-mb", "0.1", "--baseline-copies", "20"],
                  rf"fanout_rate={NUMBER} bytes_per_copy={NUMBER}"),
    "email_locales.py": (["--messages", "60"], rf"alternating / English-only time: {NUMBER}"),
    "reset_latency.py": ([], rf"reset/login={NUMBER} known-unknown_ms={NUMBER} after_kill=\d+/\d+"),
    # 20 guesses a side: both the judged and the refused path (more only costs password hashes).
    "signin_guessing.py": (["--seconds", "120"],
                           rf"judged throttled/baseline={NUMBER} refused/judged time={NUMBER}"),
    "tutorial_kill.py": ([], r"tutorial=\d+/\d+ mailroom=\d+/\d+"),
    "queue_scale.py": (["--users", "300", "--drain", "200"],
                       rf"fanout_rate={NUMBER} status_ms={NUMBER} dashboard_ms={NUMBER} drain_rate={NUMBER} "
                       rf"statements_per_copy={NUMBER} last/first={NUMBER} dead_tuples=\d+"),
    "bulk.py": (["--quick"],
                rf"fanout_rate={NUMBER} bytes_per_copy={NUMBER} cpu_per_copy_ms={NUMBER} "
                rf"drain_rate={NUMBER} last/first={NUMBER} reset_s={NUMBER} reset_cpu_ms={NUMBER} "
                rf"paced_reset_cpu_ms={NUMBER} "
                rf"status_ms={NUMBER} "
                rf"dashboard_ms={NUMBER} dead_tuples=\d+ drain/flask_mail={NUMBER}"),
}


def test_every_benchmark_is_covered_here() -> None:
    assert set(CASES) == {p.name for p in BENCH.glob("*.py")} - {"common.py"}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(CASES))
def test_the_benchmark_runs_to_its_result_line(script: str) -> None:
    services.require("PostgreSQL", services.POSTGRES_URL)
    services.require("Redis", services.REDIS_URL)
    arguments, result = CASES[script]
    done = subprocess.run([sys.executable, str(BENCH / script), *arguments], capture_output=True,
                          text=True, timeout=300, cwd=BENCH.parent, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    last = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(result, last), output[-3000:]
