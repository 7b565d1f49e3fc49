"""What the fault drills share: seeding, bursts of requests, and reading the outbox and the mailbox."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tests.e2e.deploy.deployment import Deployment
from tests.e2e.deploy.provider import Delivered
from tests.e2e.deploy.web import Reply, WebClient

SEEDED_PASSWORD = "seeded passphrase 1"
CODE = re.compile(r"^\s+([2-9A-Z]{6})\s*$", re.MULTILINE)


def seeded_address(prefix: str, number: int) -> str:
    """The address the seed script gives account ``number`` (see ``seed.address``)."""
    return f"{prefix}-{number:04d}@e2e.example"


def seed_users(site: Deployment, prefix: str, count: int) -> list[str]:
    """Create ``count`` confirmed accounts through the seed script; their addresses."""
    site.python("tests.e2e.deploy.seed", "users", "--prefix", prefix, "--count", str(count),
                "--password", SEEDED_PASSWORD)
    return [seeded_address(prefix, n) for n in range(count)]


def request_resets(site: Deployment, addresses: Sequence[str], threads: int = 6) -> list[Reply]:
    """POST the "Forgot your password?" form once per address, from ``threads`` browsers at once."""
    chunks = [list(addresses[i::threads]) for i in range(threads)]

    def one_browser(chunk: list[str]) -> list[Reply]:
        """One visitor asking for links for a list of addresses."""
        client = WebClient(site.base_url)
        token = client.csrf("/auth/reset_password_request")
        return [client.post_form("/auth/reset_password_request", {"email": a, "csrf_token": token})
                for a in chunk]

    with ThreadPoolExecutor(threads) as pool:
        return [reply for replies in pool.map(one_browser, chunks) for reply in replies]


@dataclass(frozen=True)
class Row:
    """One outbox row, as the drills look at it."""

    id: int
    message_id: str
    status: str
    attempts: int
    last_error: str | None
    claimed_by: str | None


def outbox_rows(site: Deployment, prefix: str) -> list[Row]:
    """The outbox rows addressed to the accounts of one drill."""
    rows = site.query("SELECT id, message_id, status, attempts, last_error, claimed_by FROM outbox "
                      "WHERE recipients::text LIKE %(pattern)s ORDER BY id",
                      {"pattern": f"%{prefix}-%@e2e.example%"})
    return [Row(*row) for row in rows]


def delivered(site: Deployment, prefix: str) -> list[Delivered]:
    """The messages the provider accepted for the accounts of one drill."""
    marker = f"{prefix}-"
    return [m for m in site.provider.messages
            if any(r.startswith(marker) and r.endswith("@e2e.example") for r in m.rcpt_tos)]


@dataclass(frozen=True)
class Tally:
    """Sent (per the outbox), received (per the provider), repeated and lost."""

    queued: int
    sent: int
    received: int
    unique: int
    repeated: int
    lost: int
    repeated_ids: frozenset[str]
    strangers: int

    def figures(self) -> dict[str, int]:
        """The counts, for the report."""
        return {"queued": self.queued, "sent": self.sent, "received": self.received,
                "unique": self.unique, "repeated": self.repeated, "lost": self.lost,
                "unknown_message_ids": self.strangers}


def tally(rows: Sequence[Row], messages: Sequence[Delivered]) -> Tally:
    """Compare what the outbox says was sent with what the provider received, by Message-ID."""
    counts = Counter(m.message_id for m in messages)
    expected = {row.message_id for row in rows}
    repeated = frozenset(mid for mid, n in counts.items() if n > 1)
    return Tally(queued=len(rows), sent=sum(1 for r in rows if r.status == "sent"),
                 received=len(messages), unique=len(set(counts) & expected),
                 repeated=sum(n - 1 for n in counts.values()), lost=len(expected - set(counts)),
                 repeated_ids=repeated, strangers=len(set(counts) - expected))


def code_in(message: Delivered) -> str:
    """The six-character code of a verification email."""
    found = CODE.search(message.text())
    assert found, f"no code in {message.subject!r}:\n{message.text()}"
    return found.group(1)


def link_in(message: Delivered, path: str) -> str:
    """The first absolute link in the text part whose path starts with ``path``."""
    found = re.search(r"https?://[^\s/]+" + re.escape(path) + r"\S+", message.text())
    assert found, f"no {path} link in {message.subject!r}:\n{message.text()}"
    return found.group(0)
