"""Databases of the test run's own: a PostgreSQL database created and dropped, emptied between tests."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from flask_mailroom.models import metadata as mail_metadata

from support import services

VERSION_TABLE = "mailroom_mail_version"


def unique_name(prefix: str) -> str:
    """A database name no other run and no other xdist worker uses: the worker's id and a random tag."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"{prefix}_{worker}_{secrets.token_hex(4)}".lower()


@contextmanager
def postgres_database(prefix: str = "flask_mailroom_test") -> Iterator[str]:
    """A new, empty PostgreSQL database (skipped, or failed under CI=true, without the server);
    dropped, connections and all, when the block ends."""
    services.require("PostgreSQL", services.POSTGRES_URL)
    admin = create_engine(services.POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = unique_name(prefix)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(services.POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def reset(url: str) -> None:
    """Leave a shared database as a test found it: the mail tables emptied (their revision kept),
    every other table (a host's) dropped."""
    engine = create_engine(url)
    with engine.begin() as conn:
        present = set(inspect(conn).get_table_names())
        ours = [f'"{t.name}"' for t in mail_metadata.sorted_tables if t.name in present]
        others = [f'"{name}"' for name in present - {VERSION_TABLE, *mail_metadata.tables}]
        if ours:
            conn.execute(text(f"TRUNCATE {', '.join(ours)} RESTART IDENTITY CASCADE"))
        if others:
            conn.execute(text(f"DROP TABLE {', '.join(others)} CASCADE"))
    engine.dispose()
