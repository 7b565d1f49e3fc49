"""``flask --app mailroom mail catcher``: any SMTP client delivers into the development mailbox."""

from __future__ import annotations

import shutil
import signal
import smtplib
import subprocess
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from tests.integration.mail.helpers import flask_command, process_env, start_process, wait_for
from tests.support.services import free_port, reachable

SWAKS = "/usr/bin/swaks"


@pytest.fixture
def app_config() -> dict[str, Any]:
    """A development app, whose mailbox the catcher fills."""
    return {"MAILROOM_ENV": "development"}


@pytest.fixture
def catcher(app: Flask, tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes], Path]]:
    """The catcher running in its own process on a free port: (port, process, log)."""
    port = free_port()
    log = tmp_path / "catcher.log"
    env = process_env(app, MAILROOM_ENV="development")
    process = start_process(flask_command("mail", "catcher", "--port", str(port)), env, log)
    try:
        assert wait_for(lambda: reachable(f"smtp://127.0.0.1:{port}") or process.poll() is not None,
                        60), log.read_text()
        assert process.poll() is None, log.read_text()
        yield port, process, log
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)


def test_the_catcher_accepts_smtplib_and_swaks_and_the_mailbox_shows_both(
        app: Flask, catcher: tuple[int, subprocess.Popen[bytes], Path]) -> None:
    port, process, log = catcher
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "dev@example.com", "you@example.com", "Über smtplib"
    message.set_content("Sent with smtplib.")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.send_message(message)
    subjects = ["Über smtplib"]
    if shutil.which(SWAKS):
        subprocess.run([SWAKS, "--server", f"127.0.0.1:{port}", "--from", "swaks@example.com",
                        "--to", "dest@example.com", "--header", "Subject: Sent with swaks",
                        "--body", "Hello from swaks"], check=True, capture_output=True, timeout=30)
        subjects.append("Sent with swaks")

    page = app.test_client().get("/dev/mail").get_data(as_text=True)
    for subject in subjects:
        assert subject in page
    assert page.count(">catcher<") == len(subjects)
    assert "you@example.com" in page

    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert "catcher stopped" in log.read_text()


def test_the_catcher_refuses_to_run_outside_development(database_url: str) -> None:
    from mailroom import create_app
    from tests.conftest import base_config

    runner: FlaskCliRunner = create_app(base_config(database_url)).test_cli_runner()
    result = runner.invoke(args=["mail", "catcher", "--port", str(free_port())])
    assert result.exit_code != 0
    assert "only in development (MAIL_DEV_MAILBOX)" in result.output
