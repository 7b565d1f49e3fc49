"""Minimal host applications: Flask, Mail, and Flask-SQLAlchemy or MAILROOM_DATABASE_URL, set up
the way any Flask app sets them up (no Mailroom, no ``create_app`` of the repository's app)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import flask_mail
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from flask_mailroom import Mail
from flask_mailroom.clock import Clock

# The test app's templates: the email pairs ``email/<name>.txt`` (its ``subject`` block) and ``.html``.
TEMPLATES = Path(__file__).resolve().parents[1] / "fixtures" / "templates"
SECRET = "minimal-secret-" + "k" * 32


class HostBase(DeclarativeBase):
    """The host's own models."""


class Note(HostBase):
    """A host table, so the host's schema is not empty."""

    __tablename__ = "host_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(200))


def base_config(**extra: Any) -> dict[str, Any]:
    """What every test app starts from: a sender, its site's name, testing on (mail suppressed
    unless an SMTP server is given), and whatever the test adds."""
    return {"SECRET_KEY": SECRET, "SERVER_NAME": "mailroom.test", "PREFERRED_URL_SCHEME": "https",
            "MAIL_DEFAULT_SENDER": ("Mailroom", "noreply@mailroom.test"), "TESTING": True, **extra}


def minimal_app(config: dict[str, Any], *, sqlalchemy: bool = True,
                clock: Clock | None = None) -> tuple[Flask, SQLAlchemy | None, Mail]:
    """(app, db, mail): Flask-SQLAlchemy on SQLALCHEMY_DATABASE_URI when ``sqlalchemy`` (else db is
    None and the mail tables live at MAILROOM_DATABASE_URL), Mail reading ``clock`` when given."""
    app = Flask("minimal", template_folder=str(TEMPLATES))
    app.config.update(config)
    db: SQLAlchemy | None = None
    if sqlalchemy:
        db = SQLAlchemy(model_class=HostBase)
        db.init_app(app)
    mail = Mail()
    clock_of: Callable[[], Clock] | None = None if clock is None else (lambda: clock)
    mail.init_app(app, clock=clock_of)
    return app, db, mail


def host_config(database_uri: str, **extra: Any) -> dict[str, Any]:
    """A host's configuration: its database, a sender, and whatever the test adds."""
    return {"SQLALCHEMY_DATABASE_URI": database_uri, "MAIL_DEFAULT_SENDER": "Host <host@example.com>",
            "SERVER_NAME": "host.test", "TESTING": True, **extra}


def host_app(config: dict[str, Any], *, mail: str = "mailroom") -> tuple[Flask, SQLAlchemy, Any]:
    """(app, db, mail): ``mail`` is "mailroom" (Flask-Mailroom) or "flask_mail" (the original)."""
    app = Flask("host", template_folder=str(TEMPLATES))
    app.config.update(config)
    db = SQLAlchemy(model_class=HostBase)
    db.init_app(app)
    extension: Any = Mail() if mail == "mailroom" else flask_mail.Mail()
    extension.init_app(app)
    return app, db, extension


def create_app() -> Flask:
    """The app that worker processes started by tests run (``flask --app support.apps``): its settings
    from MINIMAL_* environment variables (values read as JSON when they parse)."""
    app = Flask("minimal", template_folder=str(TEMPLATES))
    app.config.from_prefixed_env("MINIMAL")
    if app.config.get("SQLALCHEMY_DATABASE_URI"):
        SQLAlchemy(model_class=HostBase).init_app(app)
    Mail(app)
    return app
