"""The application's own commands: ``flask --app mailroom users ...`` and ``mail broadcast``.

The ``mail`` group itself (worker, status, retry, ...) comes from the mail extension's init_app.
"""

from __future__ import annotations

from flask import Flask
from flask.cli import AppGroup

from mailroom.cli.broadcast import broadcast
from mailroom.cli.users import users_cli


def register(app: Flask) -> None:
    """Attach ``users`` and add ``broadcast`` to the extension's ``mail`` group."""
    app.cli.add_command(users_cli)
    mail_group = app.cli.commands["mail"]
    assert isinstance(mail_group, AppGroup)
    mail_group.add_command(broadcast)
