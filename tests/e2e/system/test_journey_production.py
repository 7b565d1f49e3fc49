"""The whole journey in Chromium against the production-shaped deployment; emails from the provider."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser

from tests.e2e.deploy.deployment import Deployment
from tests.e2e.deploy.journey import Journey, Person, ProviderInbox
from tests.e2e.deploy.report import DrillReport


def test_a_person_recovers_and_moves_their_account(live: Deployment, chromium: Browser,
                                                     artifacts: Path, report: DrillReport) -> None:
    journey = Journey(chromium, live.base_url, ProviderInbox(live.provider),
                      artifacts / "journey-production")
    try:
        journey.walk(Person(username="margaret", email="margaret@e2e.example",
                            new_email="margaret.moved@e2e.example",
                            password="first passphrase 1", new_password="second passphrase 2"))
    finally:
        saved_before_publishing = journey.saved()
        journey.close()
        report.counts("production journey", steps=len(journey.steps), screenshots=saved_before_publishing,
                      browser_problems=len(journey.problems))
    assert saved_before_publishing == len(journey.steps)
    assert live.provider.mailbox.failed_logins == 0
