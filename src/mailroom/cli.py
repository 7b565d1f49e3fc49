"""Commands: ``flask --app mailroom mail ...`` and ``flask --app mailroom users ...``."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from types import FrameType

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from rich.console import Console
from rich.table import Table

from mailroom.config import DEVELOPMENT
from mailroom.domain.errors import AddressInvalid
from mailroom.extensions import db
from mailroom.mail import admin, bounces, doctor, inbound, retention
from mailroom.mail.catcher import DEFAULT_HOST, DEFAULT_PORT, run_catcher
from mailroom.mail.compose import Envelope, compose, envelope_sender
from mailroom.mail.mime import render_mime
from mailroom.mail.transport import DeliveryError, SMTPTransport
from mailroom.mail.worker import Worker
from mailroom.services.accounts import find_by_email, normalize_address
from mailroom.state import now, state
from mailroom.urls import external_url

mail_cli = AppGroup("mail", help="The mail queue: workers, status, retries.")
users_cli = AppGroup("users", help="User administration.")


def _app() -> Flask:
    """The application the command runs in."""
    return current_app._get_current_object()  # type: ignore[attr-defined,no-any-return]


def _on_signals(event: threading.Event) -> None:
    """SIGTERM and SIGINT set ``event`` instead of killing the process."""

    def handle(signum: int, frame: FrameType | None) -> None:
        """Ask the loop to stop after what it is doing."""
        event.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def _outcome(counts: Counter[str]) -> str:
    """``3 sent, 1 to retry, 0 failed``."""
    return f"{counts['sent']} sent, {counts['retried']} to retry, {counts['failed']} failed"


@mail_cli.command("worker")
@click.option("--burst", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--poll", default=1.0, show_default=True, help="Seconds between polls when idle.")
def worker_command(burst: bool, poll: float) -> None:
    """Deliver queued mail until SIGTERM (finishing the message in hand), or once with --burst."""
    worker = Worker(_app())
    if burst:
        handled = worker.drain()
        click.echo(f"handled {handled} message(s): {_outcome(worker.stats)}")
        return
    _on_signals(worker.stop)
    click.echo(f"worker {worker.worker_id} started")
    worker.run_forever(poll, report=lambda n, c: click.echo(f"handled {n} message(s): {_outcome(c)}"))
    click.echo(f"worker {worker.worker_id} stopped")


def _age(seconds: float) -> str:
    """A duration the way people say it: 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


@mail_cli.command("status")
def status_command() -> None:
    """Messages in the outbox by status, what is due, and the age of the oldest undelivered one."""
    snapshot = admin.queue_status()
    table = Table(title="Outbox")
    table.add_column("status")
    table.add_column("messages", justify="right")
    for name, count in snapshot.counts.items():
        table.add_row(name, str(count))
    console = Console(highlight=False)
    console.print(table)
    console.print(f"due now: {snapshot.due_now}")
    console.print(f"expired claims (a worker died; another will take them): {snapshot.expired_claims}")
    age = snapshot.oldest_age
    console.print("oldest queued: " + ("none" if age is None else f"{_age(age.total_seconds())} old"))


@mail_cli.command("retry")
@click.argument("message", required=False)
@click.option("--all-failed", is_flag=True, help="Put every failed message back in the queue.")
def retry_command(message: str | None, all_failed: bool) -> None:
    """Put a message (by number or Message-ID) or every failed message back in the queue, due now."""
    if bool(message) == all_failed:
        raise click.UsageError("give a message number or Message-ID, or --all-failed (not both)")
    if all_failed:
        click.echo(f"{admin.retry_all_failed()} failed message(s) queued again")
        return
    try:
        row = admin.retry(str(message))
    except (LookupError, admin.RetryRefused) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"message {row.id} {row.message_id} queued again, due now")


@mail_cli.command("purge")
@click.option("--days", type=click.IntRange(min=0), default=None,
              help="Keep bodies this many days instead of OUTBOX_RETENTION_DAYS.")
def purge_command(days: int | None) -> None:
    """Drop the bodies of sent, failed and skipped messages older than the retention period."""
    kept = current_app.config["OUTBOX_RETENTION_DAYS"] if days is None else days
    moment = state(_app()).clock.now()
    dropped = retention.purge(moment, kept)
    click.echo(f"dropped the bodies of {dropped} message(s) finished before "
               f"{retention.cutoff(moment, kept):%Y-%m-%d %H:%M} UTC; their metadata stays")


@mail_cli.command("send-test")
@click.argument("address")
@click.option("--now", "deliver_now", is_flag=True,
              help="Run the worker once right away and say whether the message went out.")
def send_test_command(address: str, deliver_now: bool) -> None:
    """Queue a test message to ADDRESS, to check that mail gets out."""
    try:
        address = normalize_address(address)
    except AddressInvalid as error:
        raise click.BadParameter(str(error), param_hint="ADDRESS") from None
    queued = admin.send_test(address)
    click.echo(f"test message {queued.id} {queued.message_id} queued for {address}")
    if deliver_now:
        Worker(_app()).drain()
        now = admin.state_of(queued.id)
        click.echo(f"status: {now.status}" + (f" ({now.last_error})" if now.last_error else ""))
        if now.status != "sent":
            raise SystemExit(1)


@mail_cli.command("catcher")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int, help="Port to listen on.")
def catcher_command(host: str, port: int) -> None:
    """Run an SMTP server that keeps every message it receives in the development mailbox."""
    app = _app()
    if app.config["MAILROOM_ENV"] != DEVELOPMENT:
        raise click.ClickException("the catcher fills the development mailbox, which exists only "
                                   "with MAILROOM_ENV=development")
    stop = threading.Event()
    _on_signals(stop)
    click.echo(f"catching mail on smtp://{host}:{port}; read it at /dev/mail (Ctrl+C stops)")
    try:
        run_catcher(app, host, port, stop)
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error}") from None
    click.echo("catcher stopped")


@mail_cli.command("doctor")
@click.option("--send-to", metavar="ADDRESS", help="Also send one test message to ADDRESS.")
@click.option("--no-dns", is_flag=True, help="Skip the SPF and DMARC look-ups.")
def doctor_command(send_to: str | None, no_dns: bool) -> None:
    """Check the mail settings against the server before first use: one line per finding, with its fix."""
    report = doctor.diagnose(current_app.config, None if no_dns else doctor.dns_txt)
    for finding in report.findings:
        click.echo(finding.line())
    sent = True
    if send_to:
        try:
            address = normalize_address(send_to)
        except AddressInvalid as error:
            raise click.BadParameter(str(error), param_hint="--send-to") from None
        sent, line = doctor_test_message(address)
        click.echo(line)
    if not (report.healthy and sent):
        raise SystemExit(1)


def doctor_test_message(address: str) -> tuple[bool, str]:
    """Send one test message straight through the configured server; whether it went, and the line."""
    message = compose("test", Envelope(subject="Mailroom mail doctor test message", recipients=[address]),
                      sent_at=now(), address=address, site_url=external_url("main.index"))
    transport = SMTPTransport(current_app.config)
    try:
        transport.send(envelope_sender(message), [address], render_mime(message).as_bytes())
    except DeliveryError as error:
        return False, f"FIX   the test message to {address} was not sent ({error}) -> fix the findings above"
    finally:
        transport.close()
    return True, f"ok    test message sent to {address}: {transport.last_reply}"


@mail_cli.command("bounces")
def bounces_command() -> None:
    """Fetch the bounce mailbox (MAIL_BOUNCES_URL, IMAP or POP3) and record its bounces and complaints."""
    config = current_app.config
    url = config.get("MAIL_BOUNCES_URL")
    if not url:
        raise click.ClickException("MAIL_BOUNCES_URL is not set (imaps://user:password@host/INBOX or "
                                   "pop3s://user:password@host)")
    try:
        source = "dsn:" + bounces.Mailbox.parse(url).scheme.removesuffix("s")
        fetched = bounces.fetch(url, lambda raw: inbound.ingest_dsn(raw, source),
                                config.get("MAIL_SSL_CAFILE"), float(config["MAIL_TIMEOUT"]))
    except bounces.MailboxError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{fetched.messages} message(s) read, {fetched.reports} report(s), "
               f"{fetched.recorded} address report(s) recorded")


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
    from mailroom import announce_cli  # noqa: F401  (adds ``mail broadcast``)
    app.cli.add_command(mail_cli)
    app.cli.add_command(users_cli)
