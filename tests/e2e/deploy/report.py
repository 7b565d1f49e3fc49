"""What each drill and battery checked: printed as it runs and repeated at the end of the run."""

from __future__ import annotations

from pathlib import Path

import pytest

REPORTS = pytest.StashKey[list["DrillReport"]]()
ARTIFACTS = Path(__file__).resolve().parents[3] / "e2e-artifacts"


class DrillReport:
    """The figures one test printed."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.lines: list[str] = []

    def line(self, text: str) -> None:
        """Record and print one line."""
        self.lines.append(text)
        print(f"[{self.name}] {text}")

    def counts(self, title: str, **counts: object) -> None:
        """Record a line of ``name=value`` figures."""
        self.line(title + ": " + ", ".join(f"{key}={value}" for key, value in counts.items()))


class SummaryPlugin:
    """Prints every report in a section of the terminal summary, and keeps them in a file."""

    def __init__(self, reports: list[DrillReport]) -> None:
        self.reports = reports

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        """The section 'what the drills checked'."""
        if not self.reports:
            return
        terminalreporter.section("what the drills and batteries checked")
        lines = [f"{r.name}: {line}" for r in self.reports for line in r.lines]
        for text in lines:
            terminalreporter.write_line(text)
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "drill-report.txt").write_text("\n".join(lines) + "\n")


def open_report(request: pytest.FixtureRequest) -> DrillReport:
    """A report for the requesting test, shown again in the run's summary."""
    config = request.config
    if REPORTS not in config.stash:
        config.stash[REPORTS] = []
        config.pluginmanager.register(SummaryPlugin(config.stash[REPORTS]), "mailroom-drill-summary")
    report = DrillReport(request.node.nodeid)
    config.stash[REPORTS].append(report)
    return report
