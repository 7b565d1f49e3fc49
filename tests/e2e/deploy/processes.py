"""Child processes in their own process groups, and waiting on conditions with a deadline."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TypeVar

from tests.support import services

T = TypeVar("T")
POLL_SECONDS = 0.05


class HarnessError(RuntimeError):
    """A part of the deployment did not start, stop or answer as expected."""


def wait_until(condition: Callable[[], T | None], timeout: float, what: str,
               on_timeout: Callable[[], str] | None = None) -> T:
    """Poll ``condition`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            detail = on_timeout() if on_timeout else ""
            raise HarnessError(f"timed out after {timeout:.0f} s waiting for {what}\n{detail}")
        time.sleep(POLL_SECONDS)


def free_port() -> int:
    """A loopback TCP port nothing listens on right now (never 5432 or 6379: those are taken), from
    this pytest-xdist worker's own block, below the ports outgoing connections take."""
    return services.free_port()


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on this loopback port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def http_status(url: str) -> int:
    """The status of a GET, or 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:  # noqa: S310 (loopback only)
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (OSError, ValueError):
        return 0


def require_binary(path: str) -> str:
    """The absolute path of an executable, or a HarnessError naming what is missing."""
    found = shutil.which(path)
    if not found:
        raise HarnessError(f"required program not found: {path}")
    return found


class Service:
    """One child process, leader of its own process group, its output kept in a log file."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str], log_dir: Path,
                 cwd: Path | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> Service:
        """Start the process in a new session, so its whole group can be signalled at once."""
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdout=self._log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        """The leader's process id."""
        if self.process is None:
            raise HarnessError(f"{self.name} was never started")
        return self.process.pid

    def alive(self) -> bool:
        """Whether the leader still runs."""
        return self.process is not None and self.process.poll() is None

    def signal_group(self, signum: int) -> None:
        """Send a signal to every process of the group; a group already gone is fine."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """Ask the group to stop, kill it if it does not in time, and reap the leader."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.signal_group(signum)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                self.process.wait(timeout)
        # Children the leader left behind (gunicorn workers, postgres backends) go too.
        self.signal_group(signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL the leader alone, as a crash would, and reap it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the process's output, for error messages."""
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {self.name} log ({self.log_path}) ---\n" + "\n".join(text)

    def wait_ready(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait until ``ready`` holds, failing early with the log if the process exits."""

        def check() -> bool:
            if not self.alive():
                raise HarnessError(f"{self.name} exited before {what}\n{self.log_tail()}")
            return ready()

        wait_until(check, timeout, f"{self.name}: {what}", self.log_tail)
