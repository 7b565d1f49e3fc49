"""The start-up banner of the development server: where the site, the mailbox and the admin command are."""

from __future__ import annotations

import os

import click
from flask import Flask

from mailroom.config import DEVELOPMENT
from mailroom.urls import external_url

ADMIN_COMMAND = ".venv/bin/flask --app mailroom users grant-admin EMAIL"


def lines(app: Flask) -> list[str]:
    """What the banner says, with absolute links built the way emails build them."""
    with app.app_context():
        site = external_url("main.index")
        mailbox = external_url("devmail.index") if "devmail.index" in app.view_functions else None
        gallery = external_url("gallery.index") if "gallery.index" in app.view_functions else None
        register = external_url("registration.register")
    database = app.config["SQLALCHEMY_DATABASE_URI"]
    said = [f"Mailroom (development) at {site}",
            f"  Dev mailbox:      {mailbox or 'not installed'} (every email sent lands here)"]
    if gallery:
        said.append(f"  Email templates:  {gallery}")
    said += [f"  Database:         {database}",
             f"  Instance folder:  {app.instance_path}",
             f"  Make an admin:    register at {register}, then {ADMIN_COMMAND}"]
    return said


def serving_with_reloader() -> bool:
    """Whether this process is the one ``flask run --debug`` serves from (the reloader's child)."""
    return os.environ.get("WERKZEUG_RUN_MAIN") == "true"


def announce(app: Flask) -> None:
    """Print the banner when the development server (re)starts this process."""
    if app.config["MAILROOM_ENV"] == DEVELOPMENT and serving_with_reloader():
        width = max(len(line) for line in lines(app))
        rule = "=" * width
        click.echo("\n".join([rule, *lines(app), rule]), err=True)
