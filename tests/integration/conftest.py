"""Fixtures shared by the integration suites: TLS mail servers on loopback with a fresh certificate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.smtp import SMTPServer, implicit_tls_server, self_signed_certificate, starttls_server


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made now: (cert, key)."""
    return self_signed_certificate(tmp_path)


@pytest.fixture
def starttls(certificate: tuple[Path, Path]) -> Iterator[SMTPServer]:
    """A server that demands STARTTLS, then AUTH."""
    server = starttls_server(*certificate).start()
    yield server
    server.stop()


@pytest.fixture
def smtps(certificate: tuple[Path, Path]) -> Iterator[SMTPServer]:
    """A server that speaks TLS from the first byte."""
    server = implicit_tls_server(*certificate).start()
    yield server
    server.stop()
