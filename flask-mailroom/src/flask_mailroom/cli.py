"""``flask mail ...``: workers, the queue, a test message, the development catcher."""

from __future__ import annotations

import logging
import signal
import threading
from collections import Counter
from collections.abc import Sequence
from types import FrameType

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from flask_mailroom import queue as admin
from flask_mailroom.compose.deferred import unknown_builders
from flask_mailroom.compose.mime import bare_address
from flask_mailroom.deliverability import bounces, doctor, inbound
from flask_mailroom.devmail.catcher import DEFAULT_HOST, DEFAULT_PORT, run_catcher
from flask_mailroom.engine import heartbeats, retention
from flask_mailroom.engine.transport import DeliveryError, SMTPTransport
from flask_mailroom.engine.worker import Worker
from flask_mailroom.errors import AddressInvalid
from flask_mailroom.store import db, state

# The commands; each application gets a group of its own holding them (``mail_group``).
mail_cli = AppGroup("mail", help="The mail queue: workers, status, retries, test messages.")


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


def _log_to_stderr() -> None:
    """Workers log what operators need (unreachable server, slow-down replies) on stderr."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _outcome(counts: Counter[str]) -> str:
    """``3 sent, 1 to retry, 0 failed``."""
    return f"{counts['sent']} sent, {counts['retried']} to retry, {counts['failed']} failed"


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


def unknown_builder_lines(found: dict[str, int]) -> list[str]:
    """One warning per builder name that queued messages need and no code registered."""
    return [f"warning: {count} deferred message(s) need builder {name!r}, which this application "
            "does not register (mail.register_builder); they wait, their attempts unused"
            for name, count in sorted(found.items())]


def _warn_unknown_builders() -> None:
    """At worker start-up, say which deferred messages this worker cannot build."""
    found = unknown_builders(db.session())
    db.session.commit()
    for line in unknown_builder_lines(found):
        click.echo(line, err=True)


@mail_cli.command("worker")
@click.option("--burst", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--poll", default=1.0, show_default=True, help="Seconds between polls when idle.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Serve Prometheus metrics and health checks on this port (default: MAIL_METRICS_PORT; "
                   "each worker on a machine needs its own).")
def worker_command(burst: bool, poll: float, metrics_port: int | None) -> None:
    """Deliver queued mail until SIGTERM (finishing the message in hand), or once with --burst."""
    _log_to_stderr()
    _warn_unknown_builders()
    port = current_app.config.get("MAIL_METRICS_PORT") if metrics_port is None else metrics_port
    worker = Worker(_app(), metrics_port=port)
    if burst:
        handled = worker.drain()
        click.echo(f"handled {handled} message(s): {_outcome(worker.stats)}")
        return
    _on_signals(worker.stop)
    click.echo(f"worker {worker.worker_id} started")
    worker.run_forever(poll, report=lambda n, c: click.echo(f"handled {n} message(s): {_outcome(c)}"))
    click.echo(f"worker {worker.worker_id} stopped")


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A plain text table: the title, then one line per row, the first column left-aligned, the
    others right-aligned, separated by ``│``."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths,
                                                                                              strict=True))]
        return " │ ".join(parts)

    return [title, line(headers), *(line(row) for row in rows)]


@mail_cli.command("status")
def status_command() -> None:
    """The outbox by status, each lane's queue, messages in flight, the current rate, each worker."""
    snapshot = admin.queue_status()
    lines = table("Outbox", ("status", "messages"), [(n, str(c)) for n, c in snapshot.counts.items()])
    lines.append(f"due now: {snapshot.due_now}")
    lines.append(f"expired claims (a worker died; another will take them): {snapshot.expired_claims}")
    age = snapshot.oldest_age
    lines.append("oldest queued: " + ("none" if age is None else f"{_age(age.total_seconds())} old"))
    lines.extend(unknown_builder_lines(snapshot.unknown_builders))
    lines.extend(engine_lines(admin.engine_status()))
    click.echo("\n".join(lines))


def engine_lines(engine: heartbeats.Engine) -> list[str]:
    """The lanes, the rate and the workers."""
    lanes = [(lane.name, str(lane.queued), str(lane.due), str(lane.in_flight)) for lane in engine.lanes]
    lines = table("Lanes", ("lane", "queued", "due now", "in flight"), lanes)
    lines.append(f"current rate: {engine.rate:.1f} messages/s (last minute)")
    lines.append(f"circuit breaker: {engine.breaker}")
    if not engine.workers:
        return [*lines, "workers: none reported in the last minute"]
    return lines + [f"worker {w.worker_id}: {w.connections} connections ({w.reserved} reserved), "
                    f"{w.in_flight} in flight, {w.sent} sent, {w.rate:.1f}/s, breaker {w.breaker}, "
                    f"{w.unreachable} refused connections, {w.throttled} throttled" for w in engine.workers]


@mail_cli.command("retry")
@click.argument("message", required=False)
@click.option("--all-failed", is_flag=True, help="Put every failed message back in the queue.")
def retry_command(message: str | None, all_failed: bool) -> None:
    """Put a message (by number or Message-ID) or every failed message back in the queue, due now."""
    if bool(message) == all_failed:
        raise click.UsageError("give a message number or Message-ID, or --all-failed (not both)")
    if all_failed:
        click.echo(f"{admin.retry_failed()} failed message(s) queued again")
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


def lower_domain(address: str) -> str:
    """The address with its domain in lower case (domains are case-blind; the local part is not)."""
    local, _, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}"


@mail_cli.command("send-test")
@click.argument("address")
@click.option("--now", "deliver_now", is_flag=True,
              help="Run the worker once right away and say whether the message went out.")
def send_test_command(address: str, deliver_now: bool) -> None:
    """Queue a test message to ADDRESS, to check that mail gets out."""
    try:
        address = lower_domain(bare_address(address))
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
    if not app.config["MAIL_DEV_MAILBOX"]:
        raise click.ClickException("the catcher fills the development mailbox, which exists only "
                                   "in development (MAIL_DEV_MAILBOX)")
    stop = threading.Event()
    _on_signals(stop)
    url = app.config["MAIL_DEV_MAILBOX_URL"]
    click.echo(f"catching mail on smtp://{host}:{port}; read it at {url} (Ctrl+C stops)")
    try:
        run_catcher(app, host, port, stop)
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error}") from None
    click.echo("catcher stopped")


@mail_cli.command("upgrade")
def upgrade_command() -> None:
    """Create or upgrade the mail tables in the database (their own history; safe to run again)."""
    mail_state = state()
    before, after = mail_state.mail.upgrade()
    where = mail_state.engine.url.render_as_string(hide_password=True)
    if before == after:
        click.echo(f"mail tables already at {after} in {where}")
    else:
        click.echo(f"mail tables upgraded from {before or 'nothing'} to {after} in {where}")


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
            address = bare_address(send_to)
        except AddressInvalid as error:
            raise click.BadParameter(str(error), param_hint="--send-to") from None
        sent, line = doctor_test_message(address)
        click.echo(line)
    if not (report.healthy and sent):
        raise SystemExit(1)


def doctor_test_message(address: str) -> tuple[bool, str]:
    """Send one test message straight through the configured server; whether it went, and the line."""
    row = state().mail.stored_row(admin.build_test_message(address))
    transport = SMTPTransport(current_app.config)
    try:
        transport.send(row.sender, row.recipients, row.raw)
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


def mail_group(name: str = "mail") -> AppGroup:
    """A group named ``name`` of the application's own with every command above (a host may add more)."""
    group = AppGroup(name, help=mail_cli.help)
    for command in mail_cli.commands.values():
        group.add_command(command)
    return group
