"""The development site as ``make run`` serves it: ``flask run``, SQLite, the dev mailbox, no SMTP."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.e2e.deploy.deployment import REPO, VENV_BIN, clean_environment, run_checked
from tests.e2e.deploy.processes import Service, free_port, http_status


class DevSite:
    """``flask db upgrade``, ``flask mail upgrade``, then ``flask run`` on embedded defaults, in a folder
    of its own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.service: Service | None = None

    @property
    def base_url(self) -> str:
        """Where the site answers."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        """No configuration beyond ``make run``'s, except a database file and port of our own.

        SERVER_NAME names that port so the links in emails lead back to this server
        (``make run`` serves on 127.0.0.1:5000, the default SERVER_NAME in development).
        """
        env = clean_environment()
        env["DATABASE_URL"] = f"sqlite:///{self.root / 'mailroom.sqlite3'}"
        env["SERVER_NAME"] = f"127.0.0.1:{self.port}"
        return env

    def start(self) -> None:
        """Migrate, then serve with Flask's development server."""
        flask = str(VENV_BIN / "flask")
        run_checked([flask, "--app", "mailroom", "db", "upgrade"], self.env)
        run_checked([flask, "--app", "mailroom", "mail", "upgrade"], self.env)
        argv = [flask, "--app", "mailroom", "run", "--host", "127.0.0.1", "--port", str(self.port)]
        self.service = Service("flask-run", argv, self.env, self.logs, cwd=REPO).start()
        self.service.wait_ready(lambda: http_status(self.base_url + "/") == 200, 60,
                                "serving the home page")

    def stop(self) -> None:
        """Stop the server (and its in-process worker)."""
        if self.service is not None:
            self.service.stop(signal.SIGTERM)
            self.service = None
