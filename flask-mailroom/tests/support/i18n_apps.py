"""Hosts for the translation and ``init_app`` tests: a bare Flask app with ``Mail`` on a SQLite file of
its own (no Flask-SQLAlchemy, no Mailroom), the dev mailbox on, Flask-Babel only when asked for."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from flask import Flask

from flask_mailroom import Mail
from flask_mailroom.devmail.catcher import store
from flask_mailroom.store import state

SECRET = "i18n-secret-" + "s" * 32
PACKAGE_LOCALES = ("en", "zh_Hans", "zh_Hant")


def mailbox_config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """A host's settings: the mail tables in a SQLite file, the dev mailbox on, and ``extra``."""
    return {"SECRET_KEY": SECRET, "TESTING": True, "MAIL_DEV_MAILBOX": True,
            "MAIL_DEFAULT_SENDER": "Host <host@example.com>",
            "MAILROOM_DATABASE_URL": f"sqlite:///{tmp_path / 'mail.sqlite3'}", **extra}


def with_babel(app: Flask, locale: str, translations: Path | None = None) -> None:
    """Give ``app`` Flask-Babel, every request in ``locale`` (its own catalogue in ``translations``)."""
    from flask_babel import Babel

    if translations is not None:
        app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(translations)
    Babel(app, locale_selector=lambda: locale)


@contextmanager
def mailbox_host(tmp_path: Path, *, locale: str | None = None, translations: Path | None = None,
                 template_folder: Path | None = None, **config: Any) -> Iterator[Flask]:
    """A host with the mail tables made; Flask-Babel in ``locale`` when given (set up after ``Mail``,
    as Mailroom's app does); its engine closed afterwards."""
    app = Flask("i18n_host", template_folder=None if template_folder is None else str(template_folder))
    app.config.update(mailbox_config(tmp_path, **config))
    mail = Mail(app)
    if locale is not None:
        with_babel(app, locale, translations)
    with app.app_context():
        mail.upgrade()
    try:
        yield app
    finally:
        state(app).dispose()


def deliver(app: Flask, *, subject: str = "Hello", links: int = 1, attachment: bool = True) -> int:
    """Put a message (text, HTML with ``links`` links, a PDF attachment) in the dev mailbox; its id."""
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = "Host <host@example.com>"
    message["To"] = "ann@example.com"
    message.set_content("Plain body\n")
    anchors = "".join(f'<a href="https://example.com/{n}">link {n}</a>' for n in range(links))
    message.add_alternative(f"<p>Rich body {anchors}</p>", subtype="html")
    if attachment:
        message.add_attachment(b"%PDF-1.4" + b"0" * 1234, maintype="application", subtype="pdf",
                               filename="report.pdf")
    return store(app, "host@example.com", ["ann@example.com"], message.as_bytes(), "catcher")


def host_catalogue(directory: Path, locale: str, messages: dict[str, str]) -> Path:
    """A host's own compiled catalogue (domain ``messages``) in ``directory``, which it returns."""
    from babel.messages.catalog import Catalog
    from babel.messages.mofile import write_mo

    catalogue = Catalog(locale=locale)
    for msgid, text in messages.items():
        catalogue.add(msgid, text)
    target = directory / locale / "LC_MESSAGES" / "messages.mo"
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as handle:
        write_mo(handle, catalogue)
    return directory
