"""Bulk set-up run with the deployment's environment: ``python -m tests.e2e.deploy.seed users|mail ...``."""

from __future__ import annotations

import argparse
import sys

from flask_mailroom.compose.outbox import Envelope, build_message, queue

from mailroom import create_app
from mailroom.extensions import db
from mailroom.services import accounts

# Seeded accounts only need to exist; a cheap hash keeps seeding hundreds of them fast.
SEED_HASH = "scrypt:1024:8:1"


def address(prefix: str, number: int) -> str:
    """The address of seeded account ``number``."""
    return f"{prefix}-{number:04d}@e2e.example"


def seed_users(prefix: str, count: int, password: str, confirmed: bool = True) -> None:
    """Create ``count`` accounts named ``<prefix>NNNN`` (confirmed unless told) in one transaction."""
    app = create_app({"PASSWORD_HASH_METHOD": SEED_HASH})
    with app.app_context():
        for number in range(count):
            user = accounts.new_user(f"{prefix}{number:04d}", address(prefix, number), password)
            user.email_confirmed = confirmed
            db.session.add(user)
        db.session.commit()
    print(f"seeded {count} accounts")


def seed_mail(prefix: str, count: int) -> None:
    """Queue ``count`` plain messages to distinct addresses in one transaction, as a burst of traffic."""
    app = create_app()
    with app.app_context():
        for number in range(count):
            envelope = Envelope(subject=f"Drill {prefix} #{number:04d}",
                                recipients=[address(prefix, number)])
            message = build_message(envelope, f"Drill message {number} of {count}.\n", None)
            queue(message, template="e2e-drill")
        db.session.commit()
    print(f"queued {count} messages")


def main(argv: list[str]) -> None:
    """Parse the command line and run one seeding command."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=["users", "mail"])
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--password", default="seeded passphrase 1")
    parser.add_argument("--unconfirmed", action="store_true", help="accounts whose address is not confirmed")
    args = parser.parse_args(argv)
    if args.what == "users":
        seed_users(args.prefix, args.count, args.password, confirmed=not args.unconfirmed)
    else:
        seed_mail(args.prefix, args.count)


if __name__ == "__main__":
    main(sys.argv[1:])
