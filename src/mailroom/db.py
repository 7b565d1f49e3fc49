"""Database foundations: the declarative base, shared column types, and per-connection settings."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

# The column types and naming rules are the mail core's, shared so both schemas read alike.
from flask_mailroom.models import NAMING, BigId, UTCDateTime
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, registry

__all__ = ["NAMING", "Base", "BigId", "UTCDateTime"]

class Base(DeclarativeBase):
    """Every model's base, with constraint names that migrations can rely on."""

    registry = registry(
        metadata=MetaData(naming_convention=NAMING),
        type_annotation_map={datetime: UTCDateTime()},
    )


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    """Give SQLite what concurrent web and worker processes need: WAL, foreign keys, waits."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # The driver's own transaction handling would defer BEGIN; we emit it ourselves below.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


@event.listens_for(Engine, "begin")
def _begin_immediate(connection: Connection) -> None:
    """Take SQLite's write lock up front, so a read never has to be upgraded and fail busy."""
    if connection.dialect.name != "sqlite":
        return
    # The hook is on every Engine in the process: another library's hook may have begun already.
    if not getattr(connection.connection.dbapi_connection, "in_transaction", False):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
