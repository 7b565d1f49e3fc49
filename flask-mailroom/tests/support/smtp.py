"""The suite's SMTP server: Flask-Mailroom's test server on ports from this test process's block,
and the login its AUTH servers accept (``SMTPServer.starttls(cert, key, USERNAME, PASSWORD)``)."""

from __future__ import annotations

from flask_mailroom import testing
from flask_mailroom.testing import Received, TrackedSMTP, abort_connections, self_signed_certificate

from support.services import free_port

__all__ = ["PASSWORD", "USERNAME", "Received", "SMTPServer", "TrackedSMTP", "abort_connections",
           "self_signed_certificate"]

USERNAME = "mailroom"
PASSWORD = "smtp-password-for-tests"


class SMTPServer(testing.SMTPServer):
    """The test server, on a port no other test process of this run is handed."""

    def pick_port(self) -> int:
        """A port from this test process's block."""
        return free_port()
