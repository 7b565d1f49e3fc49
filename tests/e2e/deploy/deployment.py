"""The whole deployment: PostgreSQL, Redis, mail provider, gunicorn, mail workers, by the repo's commands."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psycopg

from mailroom.config import ENV_KEYS
from tests.e2e.deploy.processes import HarnessError, Service, free_port, http_status
from tests.e2e.deploy.provider import MailProvider
from tests.e2e.deploy.servers import PostgresServer, RedisServer

REPO = Path(__file__).resolve().parents[3]
VENV_BIN = Path(sys.executable).parent
OWN_PREFIXES = ("FLASK_", "MAILROOM_", "MAIL_", "RATELIMIT_", "OUTBOX_", "SQLALCHEMY_", "WERKZEUG_")

# Settings a drill needs that an operator would not choose: limits high enough for hundreds of
# requests from one client, and retries/claims on a seconds scale so each drill stays bounded.
DRILL_SETTINGS = {
    "RATELIMIT_RESET_PER_CLIENT": "100000 per minute",
    "RATELIMIT_RESET_PER_ADDRESS": "1000 per hour",
    "ACCOUNT_EMAILS_PER_HOUR": "1000",
    "OUTBOX_BACKOFF_BASE": "2",
    "OUTBOX_BACKOFF_MAX": "5",
    "OUTBOX_MAX_ATTEMPTS": "40",
    "OUTBOX_CLAIM_TTL": "10",
    "OUTBOX_BATCH_SIZE": "25",
    "MAIL_TIMEOUT": "10",
}


def clean_environment() -> dict[str, str]:
    """This process's environment without any Mailroom or Flask setting, the venv first on PATH."""
    env = {k: v for k, v in os.environ.items()
           if k not in ENV_KEYS and not k.startswith(OWN_PREFIXES)}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env["PYTHONUNBUFFERED"] = "1"
    # A developer's .env in the checkout must not change what the harness deploys.
    env["FLASK_SKIP_DOTENV"] = "1"
    return env


def run_checked(argv: list[str], env: Mapping[str, str], timeout: float = 120) -> str:
    """Run a command of the repo to completion in the repo folder; its output, or a HarnessError."""
    done = subprocess.run(argv, env=dict(env), cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if done.returncode != 0:
        raise HarnessError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


class Deployment:
    """Mailroom as an operator runs it, on loopback, everything of its own on free ports."""

    def __init__(self, root: Path, web_workers: int = 2, mail_workers: int = 2) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.base_env = clean_environment()
        self.postgres = PostgresServer(self.logs, self.base_env)
        self.redis = RedisServer(root / "redis", self.logs, self.base_env)
        self.provider = MailProvider(root, "mailroom-e2e", secrets.token_urlsafe(16))
        self.web_port = free_port()
        self.web_workers = web_workers
        self.secret_key = secrets.token_urlsafe(48)
        self.web: Service | None = None
        self.workers: list[Service | None] = [None] * mail_workers
        self.started_workers = 0

    @property
    def base_url(self) -> str:
        """Where the site answers."""
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def env(self) -> dict[str, str]:
        """The environment of every Mailroom process: production, configured only by variables."""
        env = dict(self.base_env)
        env.update({
            "MAILROOM_ENV": "production", "SECRET_KEY": self.secret_key,
            "SERVER_NAME": f"127.0.0.1:{self.web_port}", "PREFERRED_URL_SCHEME": "http",
            "DATABASE_URL": self.postgres.url, "REDIS_URL": self.redis.url,
            "MAIL_DEFAULT_SENDER": "Mailroom <noreply@mailroom.e2e>",
        })
        env.update(self.provider.config())
        env.update(DRILL_SETTINGS)
        return env

    # --- whole deployment ------------------------------------------------------------------

    def start(self) -> None:
        """Start every part in dependency order; stop what started if one part fails."""
        try:
            self.postgres.init()
            self.postgres.start()
            self.postgres.create_database("mailroom")
            self.redis.start()
            self.provider.start()
            self.flask("db", "upgrade")
            self.flask("mail", "upgrade")
            self.start_web()
            for index in range(len(self.workers)):
                self.start_worker(index)
        except BaseException:
            # The failure to start is the error worth seeing, not one from cleaning up after it.
            with suppress(Exception):
                self.stop()
            raise

    def stop(self) -> None:
        """Stop everything that runs, in reverse order, even when a part refuses (safe to repeat)."""
        errors: list[str] = []
        for stop in (self.stop_workers, self.stop_web, self.provider.stop, self.redis.stop,
                     self.postgres.stop, self.postgres.remove):
            try:
                stop()
            except Exception as error:
                errors.append(f"{stop}: {error}")
        if errors:
            raise HarnessError("; ".join(errors))

    # --- commands of the repo ---------------------------------------------------------------

    def flask(self, *args: str, timeout: float = 120) -> str:
        """Run ``flask --app mailroom ...`` with the deployment's environment."""
        return run_checked([str(VENV_BIN / "flask"), "--app", "mailroom", *args], self.env, timeout)

    def python(self, module: str, *args: str, env: Mapping[str, str] | None = None,
               timeout: float = 120) -> str:
        """Run a helper module of the harness with the deployment's environment."""
        merged = {**self.env, **(env or {})}
        return run_checked([sys.executable, "-m", module, *args], merged, timeout)

    # --- web --------------------------------------------------------------------------------

    def start_web(self) -> None:
        """gunicorn with sync workers, as the README tells operators to run it."""
        argv = [str(VENV_BIN / "gunicorn"), "--workers", str(self.web_workers), "--bind",
                f"127.0.0.1:{self.web_port}", "--graceful-timeout", "5", "--timeout", "30",
                "--access-logfile", "-", "mailroom.wsgi:app"]
        self.web = Service("gunicorn", argv, self.env, self.logs, cwd=REPO).start()
        self.web.wait_ready(lambda: http_status(self.base_url + "/auth/login") == 200, 60,
                            "serving the sign-in page")

    def stop_web(self) -> None:
        """Stop gunicorn gracefully (SIGTERM), its workers with it."""
        if self.web is not None:
            self.web.stop(signal.SIGTERM)
            self.web = None

    # --- mail workers -------------------------------------------------------------------------

    def start_worker(self, index: int) -> Service:
        """Start (or replace) mail worker number ``index``, as a process supervisor would."""
        self.started_workers += 1
        argv = [str(VENV_BIN / "flask"), "--app", "mailroom", "mail", "worker"]
        worker = Service(f"mail-worker-{index}-{self.started_workers}", argv, self.env, self.logs,
                         cwd=REPO).start()
        worker.wait_ready(lambda: "started" in worker.log_path.read_text(errors="replace"), 60,
                          "announcing it started")
        self.workers[index] = worker
        return worker

    def start_extra_worker(self, name: str, **settings: str) -> Service:
        """A mail worker beyond the supervised ones, with settings of its own; the caller stops it."""
        self.started_workers += 1
        argv = [str(VENV_BIN / "flask"), "--app", "mailroom", "mail", "worker"]
        worker = Service(f"mail-worker-{name}-{self.started_workers}", argv, {**self.env, **settings},
                         self.logs, cwd=REPO).start()
        worker.wait_ready(lambda: "started" in worker.log_path.read_text(errors="replace"), 60,
                          "announcing it started")
        return worker

    def kill_worker(self, index: int) -> int:
        """SIGKILL mail worker ``index`` with no warning; its process id."""
        worker = self.workers[index]
        if worker is None:
            raise HarnessError(f"mail worker {index} is not running")
        pid = worker.pid
        worker.kill()
        worker.stop()
        self.workers[index] = None
        return pid

    def stop_workers(self) -> None:
        """Stop every mail worker gracefully."""
        for index, worker in enumerate(self.workers):
            if worker is not None:
                worker.stop(signal.SIGTERM)
                self.workers[index] = None

    # --- looking inside -----------------------------------------------------------------------

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of a read-only query against the deployment's database."""
        with self.connect() as conn:
            return list(conn.execute(sql, params or {}).fetchall())

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection[Any]]:
        """A direct connection to the deployment's database."""
        conn = psycopg.connect(f"host=127.0.0.1 port={self.postgres.port} user=postgres "
                               "dbname=mailroom connect_timeout=5", autocommit=True)
        try:
            yield conn
        finally:
            conn.close()

    def outbox_counts(self) -> dict[str, int]:
        """How many outbox rows are in each status."""
        return {str(s): int(n) for s, n in self.query(
            "SELECT status, count(*) FROM outbox GROUP BY status")}

    def logs_text(self) -> str:
        """Every log of the deployment's Mailroom processes, concatenated."""
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("*.log")))
