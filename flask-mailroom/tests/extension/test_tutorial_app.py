"""The Mega-Tutorial's app (examples/tutorial_app) on Mailroom's mail, run as its README says: its
web process is killed right after answering 20 reset requests, and ``flask mail worker`` still
delivers all 20 emails."""

from __future__ import annotations

import ast
import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from importlib.metadata import packages_distributions
from pathlib import Path

import jwt
from flask_migrate import Migrate, upgrade
from packaging.requirements import Requirement
from sqlalchemy import create_engine, text

from support.apps import host_app, host_config
from support.outbox import FLASK, wait_for
from support.services import free_port
from support.smtp import SMTPServer

# The example lives at the top of the repository, next to flask-mailroom/.
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "tutorial_app"
SECRET = "tutorial-secret-" + "x" * 32
REQUESTS = 20
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """Keep the 302 a successful form post answers with, to see the answer itself."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        """Do not follow."""
        return None


def example_env(database_url: str, smtp: SMTPServer) -> dict[str, str]:
    """The environment the README's commands run with: the database and the mail server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "MAIL_"))}
    env.update({"DATABASE_URL": database_url, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp.port),
                "SECRET_KEY": SECRET, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"})
    return env


def migrate(database_url: str) -> None:
    """What ``flask db upgrade`` and ``flask mail upgrade`` do in the example, run in this process
    (an interpreter start costs seconds here): the example's own migrations, then the mail tables."""
    app, db, mail = host_app(host_config(database_url))
    Migrate(app, db, directory=str(EXAMPLE / "migrations"))
    with app.app_context():
        upgrade()
        assert mail.upgrade() == (None, "m0004_notify_kind")
        db.engine.dispose()


def start(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """Start ``flask --app microblog <args>`` in the example's folder, its output in ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen([FLASK, "--app", "microblog", *args], cwd=EXAMPLE, env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def add_users(database_url: str) -> None:
    """The accounts that will ask for a reset (the tutorial registers them through a form)."""
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text('INSERT INTO "user" (username, email) VALUES (:u, :e)'),
                           [{"u": f"user{n}", "e": f"user{n}@example.com"} for n in range(REQUESTS)])
    engine.dispose()


def ask_for_reset(base: str, address: str) -> int:
    """What a browser does: open the form, post the address; the status of the answer."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect())
    with opener.open(f"{base}/reset_password_request", timeout=10) as page:
        token = CSRF.search(page.read().decode())
    assert token is not None
    form = urllib.parse.urlencode({"csrf_token": token.group(1), "email": address}).encode()
    try:
        with opener.open(f"{base}/reset_password_request", data=form, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as redirect:
        return int(redirect.code)


def test_reset_emails_survive_the_web_process_being_killed_and_the_worker_delivers_them(
        empty_database_url: str, smtp: SMTPServer, tmp_path: Path) -> None:
    env = example_env(empty_database_url, smtp)
    migrate(empty_database_url)
    add_users(empty_database_url)
    port = free_port()
    web = start(env, tmp_path / "web.log", "run", "--port", str(port), "--no-reload")
    worker: subprocess.Popen[bytes] | None = None
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_for(lambda: (tmp_path / "web.log").read_text().find("Running on") >= 0)
        answers = [ask_for_reset(base, f"user{n}@example.com") for n in range(REQUESTS)]
        web.send_signal(signal.SIGKILL)
        web.wait(10)
        assert answers == [302] * REQUESTS
        assert smtp.messages == []
        worker = start(env, tmp_path / "worker.log", "mail", "worker")
        received = smtp.wait_for(REQUESTS, timeout=60)
    finally:
        for process in (web, worker):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
    assert sorted(m.rcpt_tos[0] for m in received) == sorted(f"user{n}@example.com" for n in range(REQUESTS))
    assert {m.message["Subject"] for m in received} == {"[Microblog] Reset Your Password"}
    link = re.search(rf"{base}/reset_password/(\S+)", received[0].text())
    assert link is not None
    claims = jwt.decode(link.group(1), SECRET, algorithms=["HS256"])
    assert f"user{claims['reset_password'] - 1}@example.com" == received[0].rcpt_tos[0]
    assert worker is not None
    assert worker.returncode == 0
    assert "stopped" in (tmp_path / "worker.log").read_text()


def imported_modules(folder: Path) -> set[str]:
    """The top-level modules the example's code imports (its own ``app`` and ``config`` left out)."""
    found: set[str] = set()
    for path in [*folder.glob("*.py"), *(folder / "app").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    return {name for name in found if name not in sys.stdlib_module_names and name not in ("app", "config")}


def test_the_requirements_file_lists_every_distribution_the_example_imports() -> None:
    lines = (EXAMPLE / "requirements.txt").read_text().splitlines()
    listed = {Requirement(line).name.lower() for line in lines if line.strip() and not line.startswith("#")}
    distributions = packages_distributions()
    needed = {name: {d.lower() for d in distributions.get(name, [])} for name in imported_modules(EXAMPLE)}
    assert "flask_mailroom" in needed
    assert {name for name, provided in needed.items() if not provided & listed} == set()
    assert "flask-mailroom" in listed
