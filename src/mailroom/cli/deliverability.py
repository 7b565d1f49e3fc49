"""``flask --app mailroom mail doctor|bounces``: Mailroom's deliverability commands (issue 14), added
to the mail extension's ``mail`` group."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from mailroom.domain.errors import AddressInvalid
from mailroom.mail import bounces, doctor, inbound
from mailroom.mail.compose import Envelope, compose, envelope_sender
from mailroom.mail.mime import render_mime
from mailroom.mail.transport import DeliveryError, SMTPTransport
from mailroom.services.accounts import normalize_address
from mailroom.state import now
from mailroom.urls import external_url


@click.command("doctor")
@with_appcontext
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


@click.command("bounces")
@with_appcontext
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
