"""Pytest fixtures for the system tests: the deployment (once per run), the development site, Chromium."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.deploy.deployment import REPO, Deployment
from tests.e2e.deploy.devsite import DevSite
from tests.e2e.deploy.processes import HarnessError, port_open
from tests.e2e.deploy.report import DrillReport, open_report
from tests.e2e.deploy.servers import postgres_bin_dir

ARTIFACTS = REPO / "e2e-artifacts"
CHROMIUM = os.environ.get("MAILROOM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def in_ci() -> bool:
    """Under CI=true nothing may skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing_programs() -> list[str]:
    """The programs the deployment needs that this machine lacks."""
    missing = [name for name in ("redis-server",) if shutil.which(name) is None]
    try:
        postgres_bin_dir()
    except HarnessError:
        missing.append("PostgreSQL server (initdb, postgres)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        missing.append("runuser (to run PostgreSQL as the postgres user)")
    return missing


def require(missing: list[str]) -> None:
    """Skip with the reason locally; fail under CI=true, where nothing may skip."""
    if not missing:
        return
    message = "missing: " + ", ".join(missing)
    if in_ci():
        pytest.fail(f"{message}; under CI=true this is a failure, not a skip")
    pytest.skip(f"{message}; install it to run the system tests")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """``e2e-artifacts/`` at the repo root (git-ignored): screenshots and logs of the run."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[Deployment]:
    """The production-shaped deployment, started once for the whole run and always stopped."""
    require(missing_programs())
    site = Deployment(tmp_path_factory.mktemp("deployment"))
    try:
        site.start()
        yield site
    finally:
        try:
            site.stop()
        finally:
            keep_logs(site.logs, artifacts / "production-logs")


def keep_logs(source: Path, target: Path) -> None:
    """Copy a run's process logs next to the screenshots, for whoever reads a failure.

    Copied aside first and then renamed into place, so another run in the same working tree
    finishing at the same moment cannot leave a mixture (the later run's logs win).
    """
    staging = target.with_name(f".{target.name}-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    shutil.rmtree(target, ignore_errors=True)
    try:
        staging.rename(target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)


def restore(site: Deployment) -> None:
    """Bring back any part a drill stopped, so every test starts on a whole deployment."""
    if not site.postgres.accepting():
        site.postgres.stop()
        site.postgres.start()
    if site.redis.service is None or not port_open(site.redis.port):
        site.redis.stop()
        site.redis.start()
    if not site.provider.running:
        site.provider.start()
    site.provider.mailbox.latency = 0.0
    if site.web is None or not site.web.alive():
        site.stop_web()
        site.start_web()
    for index, worker in enumerate(site.workers):
        if worker is None or not worker.alive():
            site.start_worker(index)


@pytest.fixture
def live(deployment: Deployment) -> Iterator[Deployment]:
    """The deployment, whole at the start of the test and made whole again after it."""
    restore(deployment)
    yield deployment
    restore(deployment)


@pytest.fixture(scope="session")
def dev_site(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[DevSite]:
    """The site as ``make run`` serves it: development mode on embedded parts."""
    site = DevSite(tmp_path_factory.mktemp("development"))
    try:
        site.start()
        yield site
    finally:
        try:
            site.stop()
        finally:
            keep_logs(site.logs, artifacts / "development-logs")


@pytest.fixture(scope="session")
def chromium(playwright: Any) -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        require([CHROMIUM])
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def report(request: pytest.FixtureRequest) -> DrillReport:
    """What a drill checked, printed now and repeated in the run's summary."""
    return open_report(request)
