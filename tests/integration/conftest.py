"""Fixtures shared by the integration suites: TLS mail servers on loopback with a fresh certificate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.smtp import PASSWORD, USERNAME, SMTPServer, self_signed_certificate


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made now: (cert, key)."""
    return self_signed_certificate(tmp_path)


@pytest.fixture
def starttls(certificate: tuple[Path, Path]) -> Iterator[SMTPServer]:
    """A server that demands STARTTLS, then AUTH."""
    server = SMTPServer.starttls(*certificate, USERNAME, PASSWORD).start()
    yield server
    server.stop()


@pytest.fixture
def smtps(certificate: tuple[Path, Path]) -> Iterator[SMTPServer]:
    """A server that speaks TLS from the first byte."""
    server = SMTPServer.implicit_tls(*certificate).start()
    yield server
    server.stop()
