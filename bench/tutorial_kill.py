"""The Mega-Tutorial's reset email when its web process is killed: Flask-Mail from a thread against
the same app on Mailroom's mail.

Run: ``.venv/bin/python bench/tutorial_kill.py``. Copies ``examples/tutorial_app`` twice: once as
the tutorial writes it (``from flask_mail import Mail``, ``send_email`` starting a thread), once as
it is (Mailroom's mail, no thread). Each serves 20 reset requests under ``flask run`` against an
aiosmtpd sink that takes one second per message (a provider's pace, not loopback's); the web
process is SIGKILLed right after the 20th answer. The Mailroom copy then runs ``flask mail worker``.

The last line is ``tutorial=<n>/20 mailroom=<n>/20`` (emails that arrived).
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
FLASK = str(Path(sys.executable).parent / "flask")
EXAMPLE = ROOT / "examples" / "tutorial_app"
REQUESTS = 20
SINK_DELAY = 1.0
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
THREADED = '''def send_async_email(app, msg):
    with app.app_context():
        mail.send(msg)


def send_email(subject, sender, recipients, text_body, html_body):
    msg = Message(subject, sender=sender, recipients=recipients)
    msg.body = text_body
    msg.html = html_body
    Thread(target=send_async_email, args=(app, msg)).start()
'''


class SlowSink:
    """aiosmtpd handler: accepts each message after SINK_DELAY seconds, and counts it."""

    def __init__(self) -> None:
        """Nothing received yet."""
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """Wait like a provider, then accept."""
        await asyncio.sleep(SINK_DELAY)
        self.received += 1
        return "250 OK"


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def as_the_tutorial_writes_it(folder: Path) -> None:
    """Undo the one-line change and bring the thread back."""
    init = folder / "app" / "__init__.py"
    source = init.read_text().replace("from flask_mailroom import Mail", "from flask_mail import Mail")
    init.write_text(source)
    email = folder / "app" / "email.py"
    source = email.read_text()
    start, end = source.index("def send_email("), source.index("def send_password_reset_email(")
    source = source[:start] + THREADED + "\n\n" + source[end:]
    email.write_text("from threading import Thread\n" + source)


def environment(folder: Path, smtp_port: int) -> dict[str, str]:
    """The copy's database and the sink."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLASK_", "MAIL_"))}
    env.update({"DATABASE_URL": f"sqlite:///{folder / 'app.db'}", "MAIL_SERVER": "127.0.0.1",
                "MAIL_PORT": str(smtp_port), "SECRET_KEY": "bench-" + "k" * 40,
                "PYTHONDONTWRITEBYTECODE": "1"})
    return env


def flask(folder: Path, env: dict[str, str], *args: str) -> None:
    """``flask --app microblog <args>`` in the copy, checked."""
    subprocess.run([FLASK, "--app", "microblog", *args], cwd=folder, env=env, check=True, capture_output=True)


def prepare(folder: Path, env: dict[str, str], mailroom: bool) -> None:
    """Tables and the 20 accounts."""
    flask(folder, env, "db", "upgrade")
    if mailroom:
        flask(folder, env, "mail", "upgrade")
    with sqlite3.connect(folder / "app.db") as connection:
        connection.executemany('INSERT INTO "user" (username, email) VALUES (?, ?)',
                               [(f"user{n}", f"user{n}@example.com") for n in range(REQUESTS)])


def ask_for_reset(base: str, address: str) -> None:
    """Open the form and post the address, as a browser does."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(f"{base}/reset_password_request", timeout=30) as page:
        found = CSRF.search(page.read().decode())
    assert found is not None
    form = urllib.parse.urlencode({"csrf_token": found.group(1), "email": address}).encode()
    with opener.open(f"{base}/reset_password_request", data=form, timeout=30) as answer:
        answer.read()


def serve_and_kill(folder: Path, env: dict[str, str]) -> None:
    """Start the web, answer the 20 requests, SIGKILL it right after the last answer."""
    port = free_port()
    web = subprocess.Popen([FLASK, "--app", "microblog", "run", "--port", str(port), "--no-reload"],
                           cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/", timeout=2).read()  # noqa: S310
            break
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    for number in range(REQUESTS):
        ask_for_reset(base, f"user{number}@example.com")
    web.send_signal(signal.SIGKILL)
    web.wait()


def arrived_after(sink: SlowSink, seconds: float, wanted: int = REQUESTS) -> int:
    """How many messages the sink has after waiting up to ``seconds`` for ``wanted``."""
    deadline = time.monotonic() + seconds
    while sink.received < wanted and time.monotonic() < deadline:
        threading.Event().wait(0.1)
    return sink.received


def run_variant(tmp: Path, mailroom: bool) -> int:
    """One copy of the app through the kill; how many of the 20 emails arrived."""
    sink = SlowSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    folder = tmp / ("mailroom" if mailroom else "tutorial")
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    if not mailroom:
        as_the_tutorial_writes_it(folder)
    env = environment(folder, port)
    try:
        prepare(folder, env, mailroom)
        serve_and_kill(folder, env)
        if not mailroom:
            return arrived_after(sink, 3 * SINK_DELAY)
        worker = subprocess.Popen([FLASK, "--app", "microblog", "mail", "worker"], cwd=folder, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            return arrived_after(sink, REQUESTS * SINK_DELAY + 60)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
    finally:
        controller.stop()


def main() -> None:
    """Both variants, the baseline first."""
    with tempfile.TemporaryDirectory(prefix="tutorial-kill-") as folder:
        tutorial = run_variant(Path(folder), mailroom=False)
        print(f"tutorial (Flask-Mail from a thread): {tutorial}/{REQUESTS} emails arrived")
        ours = run_variant(Path(folder), mailroom=True)
        print(f"Mailroom's mail + flask mail worker: {ours}/{REQUESTS} emails arrived")
        print(f"tutorial={tutorial}/{REQUESTS} mailroom={ours}/{REQUESTS}")


if __name__ == "__main__":
    main()
