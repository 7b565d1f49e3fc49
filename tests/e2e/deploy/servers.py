"""The deployment's own PostgreSQL and Redis servers, in a temporary folder, on free ports."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tests.e2e.deploy.processes import HarnessError, Service, free_port, port_open, require_binary

POSTGRES_USER = "postgres"


def postgres_bin_dir() -> Path:
    """The newest installed PostgreSQL's binaries (Debian keeps them in /usr/lib/postgresql/*/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"),
                   key=lambda p: int(Path(p).parent.parent.name.split(".")[0]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("postgres")
    if on_path:
        return Path(on_path).parent
    raise HarnessError("PostgreSQL server binaries not found (initdb, postgres)")


def as_database_user(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: when we are root, run it as the postgres OS user."""
    if os.geteuid() != 0:
        return argv
    return [require_binary("runuser"), "-u", POSTGRES_USER, "--", *argv]


def hand_to_database_user(path: Path) -> None:
    """Give a folder to the postgres OS user when we are root."""
    if os.geteuid() == 0:
        shutil.chown(path, POSTGRES_USER, POSTGRES_USER)


class PostgresServer:
    """A throw-away cluster in a temporary folder, listening on 127.0.0.1 only, on a free port."""

    def __init__(self, log_dir: Path, env: dict[str, str]) -> None:
        # Not under pytest's private (0700, root-owned) temporary folders: the postgres user
        # must be able to reach it, so it gets a folder of its own directly in the temp dir.
        self.bin = postgres_bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="mailroom-e2e-pg-"))
        self.log_dir = log_dir
        self.env = env
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self.port = free_port()
        self.service: Service | None = None

    @property
    def url(self) -> str:
        """The DATABASE_URL the application is given."""
        return f"postgresql://{POSTGRES_USER}@127.0.0.1:{self.port}/mailroom"

    def init(self) -> None:
        """Create the cluster (trust authentication on loopback) and the application's database."""
        self.sockets.mkdir(exist_ok=True)
        for path in (self.root, self.sockets):
            hand_to_database_user(path)
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U",
                   POSTGRES_USER, "-E", "UTF8", "--no-sync", "--no-instructions"])

    def _run(self, argv: list[str]) -> None:
        """Run a PostgreSQL tool to completion as the database user, failing with its output."""
        done = subprocess.run(as_database_user(argv), env=self.env, capture_output=True,
                              text=True, check=False, timeout=120)
        if done.returncode != 0:
            raise HarnessError(f"{argv[0]} failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        argv = [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
                "-k", str(self.sockets), "-c", "listen_addresses=127.0.0.1",
                "-c", "max_connections=60", "-c", "shared_buffers=32MB",
                # A test cluster: a clean shutdown still writes everything; a power cut is not drilled.
                "-c", "fsync=off", "-c", "full_page_writes=off"]
        self.service = Service("postgres", as_database_user(argv), self.env, self.log_dir).start()
        self.service.wait_ready(self.accepting, 60, "accepting connections")

    def accepting(self) -> bool:
        """Whether the server answers pg_isready."""
        done = subprocess.run([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port),
                               "-U", POSTGRES_USER, "-q"], env=self.env, check=False, timeout=10)
        return done.returncode == 0

    def create_database(self, name: str) -> None:
        """Create a database owned by the postgres user."""
        self._run([str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                   "-U", POSTGRES_USER, name])

    def stop(self) -> None:
        """Fast shutdown (SIGINT): roll back open transactions, write everything, exit."""
        if self.service is not None:
            self.service.stop(signal.SIGINT, timeout=30)
            self.service = None

    def remove(self) -> None:
        """Delete the cluster's folder (after stop)."""
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """A Redis server of our own with nothing persisted, on a free loopback port."""

    def __init__(self, root: Path, log_dir: Path, env: dict[str, str]) -> None:
        self.root = root
        self.log_dir = log_dir
        self.env = env
        self.port = free_port()
        self.service: Service | None = None

    @property
    def url(self) -> str:
        """The REDIS_URL the application is given."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until its port accepts connections."""
        self.root.mkdir(parents=True, exist_ok=True)
        argv = [require_binary("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.root)]
        self.service = Service("redis", argv, self.env, self.log_dir).start()
        self.service.wait_ready(lambda: port_open(self.port), 30, "listening")

    def stop(self) -> None:
        """Stop the server and wait until its port is closed."""
        if self.service is not None:
            self.service.stop(signal.SIGTERM, timeout=15)
            self.service = None
