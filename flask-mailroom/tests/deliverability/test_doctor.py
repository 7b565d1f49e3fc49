"""``flask mail doctor`` against aiosmtpd servers set up wrong on purpose: each mistake gives its
one-line finding with the fix; a healthy setup passes and sends one test message when asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskCliRunner

from support.services import free_port
from support.smtp import (
    PASSWORD,
    USERNAME,
    SMTPServer,
)


def settings(server: SMTPServer | None, cafile: Path | None, **overrides: Any) -> dict[str, Any]:
    """Mail settings for the server (STARTTLS with the right login unless overridden)."""
    values: dict[str, Any] = {
        "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": server.port if server else free_port(),
        "MAIL_USE_TLS": True, "MAIL_USE_SSL": False, "MAIL_USERNAME": USERNAME,
        "MAIL_PASSWORD": PASSWORD, "MAIL_SSL_CAFILE": str(cafile) if cafile else None,
        "MAIL_DEFAULT_SENDER": "Mailroom <noreply@mailroom.test>", "MAIL_TIMEOUT": 5,
        "MAIL_SUPPRESS_SEND": False, "MAIL_TRANSPORT": "smtp"}
    return values | overrides


def doctor(app: Flask, runner: FlaskCliRunner, config: dict[str, Any], *args: str) -> tuple[int, list[str]]:
    """Run the doctor with these settings: its exit code and the lines that found a problem."""
    app.config.update(config)
    result = runner.invoke(args=["mail", "doctor", "--no-dns", *args])
    return result.exit_code, [line for line in result.output.splitlines() if line.startswith("FIX")]


def test_a_healthy_setup_passes_and_sends_one_test_message(
        app: Flask, runner: FlaskCliRunner, starttls: SMTPServer,
        certificate: tuple[Path, Path]) -> None:
    code, problems = doctor(app, runner, settings(starttls, certificate[0]), "--send-to",
                            "alice@example.com")
    assert (code, problems) == (0, [])
    [message] = starttls.wait_for(1)
    assert message.rcpt_tos == ["alice@example.com"]
    assert message.message["Subject"] == "Mailroom test message"


def test_starttls_spoken_to_an_implicit_tls_port(app: Flask, runner: FlaskCliRunner, smtps: SMTPServer,
                                                 certificate: tuple[Path, Path]) -> None:
    code, problems = doctor(app, runner, settings(smtps, certificate[0]))
    assert code == 1
    assert len(problems) == 1
    assert "expects TLS from the first byte" in problems[0]
    assert "set MAIL_USE_SSL=1 and MAIL_USE_TLS=0" in problems[0]


def test_ssl_spoken_to_a_starttls_port(app: Flask, runner: FlaskCliRunner, starttls: SMTPServer,
                                       certificate: tuple[Path, Path]) -> None:
    config = settings(starttls, certificate[0], MAIL_USE_TLS=False, MAIL_USE_SSL=True)
    code, problems = doctor(app, runner, config)
    assert code == 1
    assert len(problems) == 1
    assert "does not speak TLS from the first byte" in problems[0]
    assert "set MAIL_USE_SSL=0 and MAIL_USE_TLS=1" in problems[0]


def test_a_refused_login_names_the_authorisation_code(
        app: Flask, runner: FlaskCliRunner, starttls: SMTPServer,
        certificate: tuple[Path, Path]) -> None:
    code, problems = doctor(app, runner, settings(starttls, certificate[0], MAIL_PASSWORD="web password"))
    assert code == 1
    assert len(problems) == 1
    assert f"refused the login '{USERNAME}' (535" in problems[0]
    assert "authorisation code" in problems[0]


def test_an_untrusted_certificate(app: Flask, runner: FlaskCliRunner, starttls: SMTPServer) -> None:
    code, problems = doctor(app, runner, settings(starttls, None))
    assert code == 1
    assert len(problems) == 1
    assert "does not verify" in problems[0]
    assert "MAIL_SSL_CAFILE" in problems[0]


def test_a_sender_the_login_may_not_use(app: Flask, runner: FlaskCliRunner, starttls: SMTPServer,
                                        certificate: tuple[Path, Path]) -> None:
    starttls.refuse_sender("boss@elsewhere.example", "553 5.7.1 Sender address rejected: not owned by user")
    config = settings(starttls, certificate[0], MAIL_DEFAULT_SENDER="boss@elsewhere.example")
    code, problems = doctor(app, runner, config)
    assert code == 1
    assert len(problems) == 1
    assert f"the login '{USERNAME}' may not send as boss@elsewhere.example (553" in problems[0]


def test_nothing_listening(app: Flask, runner: FlaskCliRunner) -> None:
    code, problems = doctor(app, runner, settings(None, None))
    assert code == 1
    assert len(problems) == 1
    assert "cannot reach 127.0.0.1:" in problems[0]
