"""Broadcasting: the command line with its summary and resume, and connection reuse at volume."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from mailroom.extensions import db
from mailroom.models import Announcement
from mailroom.services import announcements
from tests.support.announcements import add_users, outbox, rendered
from tests.support.smtp import SMTPServer


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A text body, a Markdown body, an HTML body and a binary attachment on disk."""
    made = {"text": tmp_path / "body.txt", "markdown": tmp_path / "body.md",
            "html": tmp_path / "body.html", "logo": tmp_path / "logo.png"}
    made["text"].write_text("Our spring release is out.\n", encoding="utf-8")
    made["markdown"].write_text("Our **spring** release <i>is out</i>.\n", encoding="utf-8")
    made["html"].write_text('<p style="color: green">Our <i>spring</i> release.</p>', encoding="utf-8")
    made["logo"].write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    return made


def broadcast(runner: FlaskCliRunner, *args: str) -> tuple[int, str]:
    """Run ``mail broadcast`` and return its exit code and output."""
    result = runner.invoke(args=["mail", "broadcast", *args])
    return result.exit_code, result.output


@pytest.mark.parametrize("app_config", [{"MAIL_MAX_EMAILS": 50, "MAIL_CONNECTIONS": 1}])
def test_500_messages_with_mail_max_emails_50_use_exactly_10_connections(
        app: Flask, smtp: SMTPServer, deliver: Callable[[], int]) -> None:
    add_users(app, 500)
    with app.app_context():
        result = announcements.send(announcements.create("News", "Hello.").id)
    assert result.queued == 500
    assert deliver() == 500
    received = smtp.wait_for(500)
    assert len(received) == 500
    assert len({m.rcpt_tos[0] for m in received}) == 500
    assert smtp.connections == 10
    assert sorted(Counter(m.connection for m in received).values()) == [50] * 10


def test_the_command_fans_out_with_a_summary(app: Flask, runner: FlaskCliRunner,
                                             files: dict[str, Path]) -> None:
    add_users(app, 3)
    add_users(app, 1, "unconfirmed", confirmed=False)
    code, output = broadcast(runner, "--subject", "Spring release", "--text", str(files["text"]),
                             "--html", str(files["markdown"]), "--attach", str(files["logo"]))
    assert code == 0, output
    assert "Sending announcement #1 to 3 recipient(s)" in output
    assert output.strip().splitlines()[-1] == (
        "announcement #1: 3 recipient(s), 3 queued now, 0 already queued, "
        "1 user(s) skipped (unconfirmed or unsubscribed)")
    rows = outbox(app)
    assert len(rows) == 3
    message = rendered(app, rows[0])
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    assert "Our <strong>spring</strong> release &lt;i&gt;is out&lt;/i&gt;." in html.get_content()
    [logo] = list(message.iter_attachments())
    assert (logo.get_filename(), logo.get_content_type()) == ("logo.png", "image/png")
    assert logo.get_payload(decode=True) == files["logo"].read_bytes()


def test_an_html_file_is_used_as_it_is(app: Flask, runner: FlaskCliRunner,
                                       files: dict[str, Path]) -> None:
    add_users(app, 1)
    code, output = broadcast(runner, "--subject", "Spring release", "--text", str(files["text"]),
                             "--html", str(files["html"]))
    assert code == 0, output
    html = rendered(app, outbox(app)[0]).get_body(preferencelist=("html",))
    assert html is not None
    assert '<p style="color: green">Our <i>spring</i> release.</p>' in html.get_content()


def test_running_the_same_command_after_a_crash_resumes_without_second_copies(
        app: Flask, runner: FlaskCliRunner, files: dict[str, Path]) -> None:
    add_users(app, 5)
    text = files["text"].read_text(encoding="utf-8")

    def crash(count: int) -> None:
        raise RuntimeError("killed")

    with app.app_context():
        announcement = announcements.create("Spring release", text)
        with pytest.raises(RuntimeError):
            announcements.send(announcement.id, batch_size=2, progress=crash)
    assert len(outbox(app)) == 2

    code, output = broadcast(runner, "--subject", "Spring release", "--text", str(files["text"]))
    assert code == 0, output
    assert "Resuming announcement #1" in output
    assert "5 recipient(s), 3 queued now, 2 already queued" in output
    assert len({r.recipients[0] for r in outbox(app)}) == len(outbox(app)) == 5

    code, output = broadcast(runner, "--subject", "Spring release", "--text", str(files["text"]))
    assert "Sending announcement #2" in output
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Announcement)) == 2


@pytest.mark.parametrize(("args", "message"), [
    (["--subject", "", "--text", "{text}"], "--subject"),
    (["--subject", "Hi\nBcc: x@example.com", "--text", "{text}"], "--subject"),
    (["--subject", "Hi", "--text", "{binary}"], "is not UTF-8 text"),
    (["--subject", "Hi", "--text", "{missing}"], "does not exist"),
    (["--text", "{text}"], "Missing option '--subject'"),
])
def test_bad_arguments_are_refused_clearly(app: Flask, runner: FlaskCliRunner, files: dict[str, Path],
                                           tmp_path: Path, args: list[str], message: str) -> None:
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    paths = {"text": str(files["text"]), "binary": str(binary), "missing": str(tmp_path / "nope")}
    code, output = broadcast(runner, *[a.format(**paths) for a in args])
    assert code == 2
    assert message in output
    assert outbox(app) == []
