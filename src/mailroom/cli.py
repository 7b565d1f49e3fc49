"""Commands: ``flask --app mailroom mail ...`` and ``flask --app mailroom users ...``."""

from __future__ import annotations

import signal
from types import FrameType

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from mailroom.extensions import db
from mailroom.mail.worker import Worker
from mailroom.services.accounts import find_by_email

mail_cli = AppGroup("mail", help="The mail queue: workers, status, retries.")
users_cli = AppGroup("users", help="User administration.")


@mail_cli.command("worker")
@click.option("--burst", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--poll", default=1.0, show_default=True, help="Seconds between polls when idle.")
def worker_command(burst: bool, poll: float) -> None:
    """Deliver queued mail until SIGTERM (finishing the message in hand), or once with --burst."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    worker = Worker(app)
    if burst:
        click.echo(f"delivered or attempted {worker.drain()} message(s)")
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        worker.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"worker {worker.worker_id} started")
    worker.run_forever(poll)
    click.echo(f"worker {worker.worker_id} stopped")


@users_cli.command("grant-admin")
@click.argument("email")
def grant_admin(email: str) -> None:
    """Give the account with this address the admin role."""
    user = find_by_email(email)
    if user is None:
        raise click.ClickException(f"no account has the address {email}")
    user.is_admin = True
    db.session.commit()
    click.echo(f"{user.username} is now an admin")


def register(app: Flask) -> None:
    """Attach the command groups."""
    app.cli.add_command(mail_cli)
    app.cli.add_command(users_cli)
