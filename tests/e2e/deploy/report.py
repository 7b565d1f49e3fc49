"""What each drill and battery checked: printed as it runs and repeated at the end of the run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PLUGIN_NAME = "mailroom-drill-summary"
# Each line also travels in the test's report (``user_properties``), so that under pytest-xdist the
# controlling process, which runs no test itself, receives the lines of every worker.
PROPERTY = "drill-report"
ARTIFACTS = Path(__file__).resolve().parents[3] / "e2e-artifacts"


class DrillReport:
    """The figures one test printed."""

    def __init__(self, name: str, properties: list[tuple[str, object]] | None = None) -> None:
        self.name = name
        self.lines: list[str] = []
        self.properties = properties if properties is not None else []

    def line(self, text: str) -> None:
        """Record and print one line."""
        self.lines.append(text)
        self.properties.append((PROPERTY, text))
        print(f"[{self.name}] {text}")

    def counts(self, title: str, **counts: object) -> None:
        """Record a line of ``name=value`` figures."""
        self.line(title + ": " + ", ".join(f"{key}={value}" for key, value in counts.items()))


class SummaryPlugin:
    """Prints every report in a section of the terminal summary, and keeps them in a file."""

    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect a test's lines from its last report (in this process or from an xdist worker)."""
        if report.when == "teardown":
            lines = [str(value) for key, value in report.user_properties if key == PROPERTY]
            if lines:
                self.lines[report.nodeid] = lines

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter,
                                config: pytest.Config) -> None:
        """The section 'what the drills checked' (once, by the process that reports the run)."""
        if not self.lines or hasattr(config, "workerinput"):
            return
        terminalreporter.section("what the drills and batteries checked")
        lines = [f"{name}: {line}" for name, texts in self.lines.items() for line in texts]
        for text in lines:
            terminalreporter.write_line(text)
        ARTIFACTS.mkdir(exist_ok=True)
        # Written aside, then renamed: another run in this working tree never reads half a file.
        staging = ARTIFACTS / f".drill-report-{os.getpid()}.txt"
        staging.write_text("\n".join(lines) + "\n")
        staging.replace(ARTIFACTS / "drill-report.txt")


def register_summary(config: pytest.Config) -> None:
    """Make sure the run's summary repeats the reports (tests/conftest.py does it at start-up)."""
    if config.pluginmanager.get_plugin(PLUGIN_NAME) is None:
        config.pluginmanager.register(SummaryPlugin(), PLUGIN_NAME)


def open_report(request: pytest.FixtureRequest) -> DrillReport:
    """A report for the requesting test, shown again in the run's summary."""
    register_summary(request.config)
    return DrillReport(request.node.nodeid, request.node.user_properties)
