"""``flask --app mailroom users ...``: user administration."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from mailroom.extensions import db
from mailroom.services import housekeeping
from mailroom.services.accounts import find_by_email

users_cli = AppGroup("users", help="User administration.")


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


@users_cli.command("sweep")
def sweep() -> None:
    """Delete expired sessions and reset handoffs now (web processes also do it every SWEEP_INTERVAL)."""
    swept = housekeeping.sweep()
    click.echo(f"deleted {swept.sessions} expired sessions and {swept.handoffs} expired reset handoffs")
