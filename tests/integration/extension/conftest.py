"""Fixtures of the extension tests: an empty database of the test's own, on SQLite or PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from tests.support import services


def _empty_postgres() -> Iterator[str]:
    """A new, empty PostgreSQL database, dropped afterwards."""
    services.require("PostgreSQL", services.POSTGRES_URL)
    admin = create_engine(services.POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"mailroom_host_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(services.POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def shared_postgres() -> Iterator[str]:
    """One empty PostgreSQL database for the host tests that leave it as they found it."""
    yield from _empty_postgres()


@pytest.fixture
def host_database_url(db_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A host's database: a new SQLite file, or the shared PostgreSQL one, emptied afterwards."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'host.sqlite3'}"
        return
    url = request.getfixturevalue("shared_postgres")
    yield url
    engine = create_engine(url)
    with engine.begin() as conn:
        names = [f'"{name}"' for name in inspect(conn).get_table_names()]
        if names:
            conn.execute(text(f"DROP TABLE {', '.join(names)} CASCADE"))
    engine.dispose()


@pytest.fixture
def empty_database_url(db_backend: str, tmp_path: Path) -> Iterator[str]:
    """An empty database for a host application (no Mailroom tables, no mail tables)."""
    if db_backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'host.sqlite3'}"
        return
    yield from _empty_postgres()
