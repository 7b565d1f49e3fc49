"""A real SMTP server (aiosmtpd) on loopback that records what it receives and can be told to fail."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

from tests.support.services import free_port


@dataclass
class Received:
    """One message as the server received it."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    connection: int

    @property
    def message(self) -> EmailMessage:
        """The parsed message."""
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

    def text(self) -> str:
        """The text/plain body."""
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())

    def html(self) -> str:
        """The text/html body."""
        part = self.message.get_body(preferencelist=("html",))
        assert part is not None
        return str(part.get_content())


@dataclass
class Recorder:
    """The aiosmtpd handler: records messages, and replays scripted replies first."""

    received: list[Received] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    connections: int = 0
    condition: threading.Condition = field(default_factory=threading.Condition)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        """Refuse scripted recipients; accept the rest."""
        reply = self.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Answer with the next scripted reply, or record the message and accept it."""
        with self.condition:
            if self.data_replies:
                return self.data_replies.pop(0)
            self.received.append(Received(
                mail_from=envelope.mail_from, rcpt_tos=list(envelope.rcpt_tos),
                data=bytes(envelope.original_content or envelope.content),
                connection=getattr(session, "mailroom_connection", 0)))
            self.condition.notify_all()
        return "250 Message accepted"


class CountingSMTP(SMTP):
    """aiosmtpd's SMTP protocol, numbering each connection it accepts."""

    def connection_made(self, transport: Any) -> None:
        """Count the connection, then carry on as usual."""
        recorder: Recorder = self.event_handler
        with recorder.condition:
            recorder.connections += 1
            number = recorder.connections
        super().connection_made(transport)
        self.session.mailroom_connection = number


class CountingController(Controller):
    """A Controller whose protocol instances count connections."""

    def factory(self) -> SMTP:
        """Build the protocol with the same options Controller would use."""
        return CountingSMTP(self.handler, **self.SMTP_kwargs)


class SMTPServer:
    """A running aiosmtpd server on 127.0.0.1 with a Recorder handler."""

    def __init__(self, **smtp_kwargs: Any) -> None:
        self.recorder = Recorder()
        self.port = free_port()
        smtp_kwargs.setdefault("enable_SMTPUTF8", True)
        self.controller = CountingController(self.recorder, hostname="127.0.0.1", port=self.port,
                                             **smtp_kwargs)

    def start(self) -> SMTPServer:
        """Start listening."""
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop listening."""
        self.controller.stop()

    @property
    def messages(self) -> list[Received]:
        """Everything received so far."""
        with self.recorder.condition:
            return list(self.recorder.received)

    @property
    def connections(self) -> int:
        """How many connections the server has accepted."""
        return self.recorder.connections

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until ``count`` messages arrived (or time out), then return them."""
        with self.recorder.condition:
            self.recorder.condition.wait_for(lambda: len(self.recorder.received) >= count, timeout)
            return list(self.recorder.received)

    def fail_data(self, *replies: str) -> None:
        """Answer the next DATA commands with these replies (e.g. '451 try later')."""
        self.recorder.data_replies.extend(replies)

    def refuse_recipient(self, address: str, reply: str = "550 No such user") -> None:
        """Refuse one recipient at RCPT TO."""
        self.recorder.rcpt_replies[address.lower()] = reply

    def config(self) -> dict[str, Any]:
        """The Mailroom settings that point at this server."""
        return {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": self.port, "MAIL_SUPPRESS_SEND": False,
                "MAIL_TRANSPORT": "smtp", "MAIL_TIMEOUT": 5}

    def find(self, predicate: Callable[[Received], bool]) -> list[Received]:
        """The received messages that match."""
        return [m for m in self.messages if predicate(m)]
