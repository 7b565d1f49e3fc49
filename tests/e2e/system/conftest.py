"""Fixtures of the system tests, from the harness (``tests/e2e/deploy``)."""

from tests.e2e.deploy.fixtures import artifacts, chromium, deployment, dev_site, live, report

__all__ = ["artifacts", "chromium", "deployment", "dev_site", "live", "report"]
