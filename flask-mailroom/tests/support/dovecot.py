"""A real IMAP and POP3 server for the bounce mailbox tests: Debian's Dovecot, started by the test
in the foreground on loopback, from a configuration of its own in a folder of its own (no system
configuration, no system state), with one user, a Maildir and a self-signed certificate."""

from __future__ import annotations

import grp
import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support.services import free_port, in_ci
from support.smtp import self_signed_certificate

DOVECOT = os.environ.get("MAILROOM_TEST_DOVECOT", "/usr/sbin/dovecot")
USER = "bounces"
PASSWORD = "imap-password-for-tests"
# Dovecot refuses to run its login processes, or to open a mailbox, as root.
UNPRIVILEGED = ("dovenull", "nobody")
# The letters after ":2," in a Maildir file name, and the IMAP flags they stand for.
MAILDIR_FLAGS = {"S": "\\Seen", "T": "\\Deleted", "F": "\\Flagged", "R": "\\Answered", "D": "\\Draft"}

CONFIG = """\
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
protocols = {protocols}
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
auth_failure_delay = 0
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{folder}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={folder}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
{pop3_service}"""

POP3_SERVICE = """\
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    address = 127.0.0.1
    port = {pop3s}
    ssl = yes
  }}
}}
"""


def require_dovecot(pop3: bool = False) -> None:
    """Skip (locally) or fail (under CI=true) when Dovecot, or its POP3 server, is not installed."""
    missing = [path for path in (DOVECOT, "/usr/lib/dovecot/imap") if not os.access(path, os.X_OK)]
    if pop3 and not os.access("/usr/lib/dovecot/pop3", os.X_OK):
        missing.append("/usr/lib/dovecot/pop3")
    if not missing:
        return
    package = "dovecot-imapd dovecot-pop3d" if pop3 else "dovecot-imapd"
    message = f"Dovecot is not installed ({', '.join(missing)} missing): apt-get install {package}"
    if in_ci():
        pytest.fail(f"{message}; under CI=true this is a failure, not a skip")
    pytest.skip(message)


def _account(candidates: tuple[str, ...]) -> pwd.struct_passwd:
    """The first of these system accounts that exists (as root), else the current user."""
    if os.geteuid() == 0:
        for name in candidates:
            try:
                return pwd.getpwnam(name)
            except KeyError:
                continue
        raise RuntimeError(f"Dovecot needs an unprivileged account: none of {', '.join(candidates)}")
    return pwd.getpwuid(os.geteuid())


def wait_for_port(port: int, process: subprocess.Popen[bytes], logs: list[Path],
                  timeout: float = 15.0) -> None:
    """Return once 127.0.0.1:port accepts connections; RuntimeError (with the logs) if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    text = "\n".join(path.read_text(errors="replace") for path in logs if path.exists())
    raise RuntimeError(f"Dovecot did not start listening on port {port}:\n{text}")


@dataclass
class Dovecot:
    """One Dovecot master process, its folder (configuration, Maildir, log) and its ports."""

    pop3: bool = False
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="mailroom-dovecot-")))
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    # The self-signed certificate the server presents: trust it to connect.
    cafile: Path = Path()

    @property
    def log(self) -> Path:
        """Dovecot's log."""
        return self.folder / "dovecot.log"

    @property
    def maildir(self) -> Path:
        """The test user's Maildir (INBOX is its top level)."""
        return self.folder / "mail" / USER

    def url(self, scheme: str = "imaps", password: str = PASSWORD, folder: str = "INBOX") -> str:
        """A MAIL_BOUNCES_URL for this server."""
        path = f"/{folder}" if scheme.startswith("imap") else ""
        return f"{scheme}://{USER}:{password}@127.0.0.1:{self.ports[scheme]}{path}"

    def _configure(self) -> Path:
        """Write the certificate, the user list and dovecot.conf; the configuration's path."""
        mail, internal = _account(("nobody",)), _account(("root",))
        login = _account(UNPRIVILEGED)
        self.cafile, key = self_signed_certificate(self.folder)
        (self.folder / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        for name in ("run", "state", "mail"):
            (self.folder / name).mkdir()
        self.folder.chmod(0o755)  # the mail process (unprivileged) walks down to its Maildir
        os.chown(self.folder / "mail", mail.pw_uid, mail.pw_gid)
        names = ["imap", "imaps", *(["pop3", "pop3s"] if self.pop3 else [])]
        self.ports = {name: free_port() for name in names}
        text = CONFIG.format(
            folder=self.folder, cert=self.cafile, key=key, protocols="imap pop3" if self.pop3 else "imap",
            internal=internal.pw_name, internal_group=grp.getgrgid(internal.pw_gid).gr_name,
            login=login.pw_name, uid=mail.pw_uid, gid=mail.pw_gid, imap=self.ports["imap"],
            imaps=self.ports["imaps"], pop3_service=POP3_SERVICE.format(**self.ports) if self.pop3 else "")
        path = self.folder / "dovecot.conf"
        path.write_text(text)
        return path

    def start(self) -> Dovecot:
        """Run ``dovecot -F`` on this folder's configuration and wait until every port listens."""
        output = self.folder / "dovecot.out"  # what it says before its log is open
        try:
            config = self._configure()
            with output.open("wb") as sink:
                self.process = subprocess.Popen([DOVECOT, "-F", "-c", str(config)], stdin=subprocess.DEVNULL,
                                                stdout=sink, stderr=subprocess.STDOUT)
            for port in self.ports.values():
                wait_for_port(port, self.process, [output, self.log])
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the master process (it stops its children) and remove the folder."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        shutil.rmtree(self.folder, ignore_errors=True)

    def context(self) -> ssl.SSLContext:
        """A client TLS context trusting the server's certificate."""
        return ssl.create_default_context(cafile=str(self.cafile))

    def client(self) -> imaplib.IMAP4_SSL:
        """A signed-in IMAP session over TLS, for delivering and inspecting messages."""
        session = imaplib.IMAP4_SSL("127.0.0.1", self.ports["imaps"], ssl_context=self.context(), timeout=10)
        session.login(USER, PASSWORD)
        return session

    def deliver(self, *messages: bytes, folder: str = "INBOX") -> None:
        """APPEND messages (unread) to a folder, creating it when missing."""
        session = self.client()
        try:
            session.create(imap_quote(folder))
            for raw in messages:
                kind, answer = session.append(imap_quote(folder), "", None, raw)
                assert kind == "OK", answer
        finally:
            session.logout()

    def flags(self, folder: str = "INBOX") -> dict[bytes, set[str]]:
        """The flags of each message of a folder by its Subject line, read from the Maildir itself
        (a sign-in after a wrong password would wait out Dovecot's penalty)."""
        top = self.maildir if folder == "INBOX" else self.maildir / f".{folder}"
        found = {}
        for path in [*(top / "new").iterdir(), *(top / "cur").iterdir()]:
            _, _, info = path.name.partition(":2,")
            subject = next(line for line in path.read_bytes().splitlines() if line.startswith(b"Subject:"))
            found[subject] = {MAILDIR_FLAGS[letter] for letter in info if letter in MAILDIR_FLAGS}
        return found


def imap_quote(name: str) -> str:
    """A mailbox name as an IMAP quoted string."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
