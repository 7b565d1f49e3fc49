"""A small real POP3 server (RFC 1939) on loopback holding a maildrop, for the bounce mailbox tests."""

from __future__ import annotations

import socketserver
import threading
from dataclasses import dataclass, field
from typing import Any

USER = "bounces"
PASSWORD = "pop3-password-for-tests"


@dataclass
class Maildrop:
    """The messages, and which were deleted by a session that ended with QUIT."""

    messages: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Session(socketserver.StreamRequestHandler):
    """One POP3 session: AUTHORIZATION, then TRANSACTION, deletions applied at QUIT."""

    server: Any

    def reply(self, line: str) -> None:
        """Send one line."""
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        """Answer commands until QUIT or the client goes away."""
        drop: Maildrop = self.server.maildrop
        deleted: set[int] = set()
        user = ""
        signed_in = False
        self.reply("+OK Mailroom test POP3 ready")
        for raw in self.rfile:
            verb, _, argument = raw.decode().strip().partition(" ")
            verb = verb.upper()
            if verb == "QUIT":
                with drop.lock:
                    drop.messages = [m for i, m in enumerate(drop.messages, 1) if i not in deleted]
                self.reply("+OK bye")
                return
            if verb == "CAPA":
                self.reply("+OK")
                self.reply("USER")
                self.reply(".")
            elif verb == "USER":
                user = argument
                self.reply("+OK")
            elif verb == "PASS":
                signed_in = user == USER and argument == PASSWORD
                self.reply("+OK signed in" if signed_in else "-ERR [AUTH] wrong user or password")
            elif not signed_in:
                self.reply("-ERR sign in first")
            else:
                self.transaction(drop, deleted, verb, argument)

    def transaction(self, drop: Maildrop, deleted: set[int], verb: str, argument: str) -> None:
        """STAT, RETR and DELE."""
        if verb == "STAT":
            self.reply(f"+OK {len(drop.messages)} {sum(len(m) for m in drop.messages)}")
        elif verb == "RETR" and argument.isdigit() and 1 <= int(argument) <= len(drop.messages):
            self.reply("+OK")
            for line in drop.messages[int(argument) - 1].split(b"\r\n"):
                self.wfile.write((b"." + line if line.startswith(b".") else line) + b"\r\n")
            self.reply(".")
        elif verb == "DELE" and argument.isdigit():
            deleted.add(int(argument))
            self.reply("+OK deleted")
        else:
            self.reply("-ERR unknown command")


class POP3Server(socketserver.ThreadingTCPServer):
    """The server, serving in a thread; ``maildrop.messages`` is what a client would fetch."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Session)
        self.maildrop = Maildrop()
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.server_address[1])

    def start(self) -> POP3Server:
        """Serve in the background."""
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.shutdown()
        self.server_close()
