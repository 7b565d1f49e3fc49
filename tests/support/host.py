"""A small host application that is not Mailroom: Flask-SQLAlchemy, optionally Flask-Migrate, and
either Flask-Mail or Mailroom's mail, the way any Flask app sets them up."""

from __future__ import annotations

from typing import Any

import flask_mail
import flask_mailroom
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class HostBase(DeclarativeBase):
    """The host's own models."""


class Note(HostBase):
    """A host table, so the host's schema is not empty."""

    __tablename__ = "host_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(200))


def host_config(database_uri: str, **extra: Any) -> dict[str, Any]:
    """A host's configuration: its database, a sender, and whatever the test adds."""
    return {"SQLALCHEMY_DATABASE_URI": database_uri, "MAIL_DEFAULT_SENDER": "Host <host@example.com>",
            "SERVER_NAME": "host.test", "TESTING": True, **extra}


def host_app(config: dict[str, Any], *, mail: str = "mailroom") -> tuple[Flask, SQLAlchemy, Any]:
    """(app, db, mail): ``mail`` is "mailroom" (our extension) or "flask_mail" (the original)."""
    app = Flask("host")
    app.config.update(config)
    db = SQLAlchemy(model_class=HostBase)
    db.init_app(app)
    extension: Any = flask_mailroom.Mail() if mail == "mailroom" else flask_mail.Mail()
    extension.init_app(app)
    return app, db, extension
