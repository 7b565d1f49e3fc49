"""What a developer gets from a checkout: `flask run --debug` with a banner, .env honoured, the
README's commands and make targets real."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.cli import FlaskGroup

from mailroom import create_app
from tests.e2e.deploy.deployment import REPO, VENV_BIN, clean_environment
from tests.e2e.deploy.processes import Service, free_port, http_status

README = (REPO / "README.md").read_text()


@pytest.fixture
def dev_server(tmp_path: Path) -> Iterator[tuple[Service, int]]:
    """`flask run --debug` started from a folder holding only a .env file, as a developer would."""
    port = free_port()
    (tmp_path / ".env").write_text(
        f"SERVER_NAME=127.0.0.1:{port}\nDATABASE_URL=sqlite:///{tmp_path / 'dotenv.sqlite3'}\n"
        f"MAILROOM_INSTANCE_PATH={tmp_path / 'instance'}\n")
    env = clean_environment()
    del env["FLASK_SKIP_DOTENV"]
    argv = [str(VENV_BIN / "flask"), "--app", "mailroom", "run", "--debug", "--host", "127.0.0.1",
            "--port", str(port)]
    service = Service("flask-run-debug", argv, env, tmp_path, cwd=tmp_path).start()
    yield service, port
    service.stop()


def test_flask_run_debug_reloads_reads_dotenv_and_prints_the_banner(dev_server: tuple[Service, int],
                                                                     tmp_path: Path) -> None:
    service, port = dev_server
    service.wait_ready(lambda: http_status(f"http://127.0.0.1:{port}/") == 200, 60, "serving")
    log = service.log_path.read_text()
    assert "Debugger is active" in log
    assert "Restarting with" in log, "the reloader runs"
    assert f"Mailroom (development) at http://127.0.0.1:{port}/" in log, ".env's SERVER_NAME is used"
    assert f"Dev mailbox:      http://127.0.0.1:{port}/dev/mail" in log
    assert "users grant-admin EMAIL" in log
    assert f"sqlite:///{tmp_path / 'dotenv.sqlite3'}" in log, ".env's DATABASE_URL is used"
    assert f"Instance folder:  {tmp_path / 'instance'}" in log


def test_the_checkout_keeps_its_instance_folder_at_the_top() -> None:
    app = create_app({"MAILROOM_ENV": "testing", "SECRET_KEY": "x" * 32,
                      "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert Path(app.instance_path) == REPO / "instance"


def readme_flask_commands() -> list[list[str]]:
    """Every `.venv/bin/flask --app mailroom GROUP COMMAND` the README shows, as argument lists."""
    found = re.findall(r"\.venv/bin/flask --app mailroom ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)", README)
    return sorted({tuple(c.split()) for c in found})  # type: ignore[arg-type]


def test_the_readme_runs_flask_through_the_venv_and_its_commands_exist() -> None:
    bare = [line for line in README.splitlines() if re.search(r"(?<![/\w])flask --app", line)]
    assert bare == [], "a bare `flask` fails unless the virtual environment is active"
    assert (VENV_BIN / "flask").exists()
    commands = readme_flask_commands()
    assert ("db", "upgrade") in commands
    assert ("mail", "worker") in commands
    cli = FlaskGroup(create_app=lambda: create_app({"MAILROOM_ENV": "testing", "SECRET_KEY": "x" * 32,
                                                    "SQLALCHEMY_DATABASE_URI": "sqlite://"}))
    for command in commands:
        result = CliRunner().invoke(cli, [*command, "--help"])
        assert result.exit_code == 0, f"{command}: {result.output}"


def test_the_readmes_make_targets_exist() -> None:
    targets = set(re.findall(r"(?:^|`)make ([a-z][a-z0-9-]*)", README, re.MULTILINE))
    assert {"run", "test", "install-base"} <= targets
    for target in targets:
        dry = subprocess.run(["make", "-n", target], cwd=REPO, capture_output=True, text=True, check=False)
        assert dry.returncode == 0, f"make {target}: {dry.stderr}"
    run = subprocess.run(["make", "-n", "run"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "--debug" in run
    assert '".[dev]"' not in run, "`make run` installs what serving needs, not the test tools"
