"""The same journey against ``flask run`` in development mode, reading emails at /dev/mail."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser

from tests.e2e.deploy.devsite import DevSite
from tests.e2e.deploy.journey import DevMailInbox, Journey, Person
from tests.e2e.deploy.report import DrillReport


def test_the_journey_on_a_laptop(dev_site: DevSite, chromium: Browser, artifacts: Path,
                                 report: DrillReport) -> None:
    journey = Journey(chromium, dev_site.base_url, DevMailInbox(dev_site.base_url),
                      artifacts / "journey-development")
    try:
        journey.walk(Person(username="devi", email="devi@example.com", new_email="devi.moved@example.com",
                            password="first passphrase 1", new_password="second passphrase 2"))
    finally:
        saved_before_publishing = journey.saved()
        journey.close()
        report.counts("development journey", steps=len(journey.steps), screenshots=saved_before_publishing,
                      browser_problems=len(journey.problems))
    assert saved_before_publishing == len(journey.steps)
