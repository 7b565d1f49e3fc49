"""PIPELINING (RFC 2920): where the server offers it, a message's envelope goes out in one write,
and every refusal means what it means without pipelining."""

from __future__ import annotations

import contextlib
import smtplib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from flask_mailroom.engine.transport import PermanentFailure, SMTPTransport, TemporaryFailure, Throttled

from support.smtp import SMTPServer

SETTINGS = {"MAIL_USE_TLS": False, "MAIL_USE_SSL": False, "MAIL_TIMEOUT": 3}
RAW = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\n.a dot\r\nbody\r\n"


@dataclass
class StrictPeer:
    """An SMTP server that answers a pipelined group only once the group ends with DATA.

    RFC 2920 lets a server hold its replies until then; a client that waits for MAIL's reply
    before sending RCPT waits for ever (until its timeout). Every command line the server read is
    kept, with the number of the read (``recv``) it arrived in."""

    listener: socket.socket
    lines: list[tuple[int, bytes]] = field(default_factory=list)
    messages: list[bytes] = field(default_factory=list)
    refuse: dict[bytes, bytes] = field(default_factory=dict)
    # Answer DATA with 354 even when no recipient was accepted (a broken server).
    always_354: bool = False
    connections: int = 0

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.listener.getsockname()[1])

    def serve(self) -> None:
        """Serve connections one after the other until the listener is closed."""
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with connection:
                Session(self, connection).run()

    def reads_of(self, verb: bytes) -> list[int]:
        """The reads in which the lines starting with ``verb`` arrived."""
        return [read for read, line in self.lines if line.upper().startswith(verb)]


@dataclass
class Session:
    """One connection of a StrictPeer."""

    peer: StrictPeer
    connection: socket.socket
    buffer: bytes = b""
    reads: int = 0
    held: list[bytes] = field(default_factory=list)

    closed: bool = False

    def line(self) -> bytes:
        """The next line, reading from the socket as needed (b"" when the client is gone)."""
        while b"\r\n" not in self.buffer:
            chunk = self.connection.recv(65536)
            if not chunk:
                self.closed = True
                return b""
            self.reads += 1
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def run(self) -> None:
        """Greet, then answer commands, holding MAIL and RCPT replies until DATA."""
        self.connection.sendall(b"220 strict ESMTP\r\n")
        while line := self.line():
            self.peer.lines.append((self.reads, line))
            if not self.command(line.upper()[:4], line):
                return

    def command(self, verb: bytes, line: bytes) -> bool:
        """Answer one command; False after QUIT."""
        if verb == b"EHLO":
            self.connection.sendall(b"250-strict\r\n250-PIPELINING\r\n250 SIZE 1000000\r\n")
        elif verb in (b"MAIL", b"RCPT"):
            self.held.append(self.reply_to(line, b"250 OK"))
        elif verb == b"DATA":
            self.data()
        elif verb == b"RSET":
            self.connection.sendall(b"250 OK\r\n")
        else:
            self.connection.sendall(b"221 bye\r\n")
            return False
        return True

    def reply_to(self, line: bytes, otherwise: bytes) -> bytes:
        """A scripted refusal for an address in ``line``, or ``otherwise``."""
        return next((reply for address, reply in self.peer.refuse.items() if address in line), otherwise)

    def data(self) -> None:
        """Answer the held group and DATA at once; read the message when it may come."""
        accepted = any(reply.startswith(b"2") for reply in self.held[1:]) and self.held[0].startswith(b"2")
        accepted = accepted or self.peer.always_354
        answer = b"354 go ahead" if accepted else b"554 no valid recipients"
        self.connection.sendall(b"".join(reply + b"\r\n" for reply in [*self.held, answer]))
        self.held = []
        if not accepted:
            return
        body = []
        while (line := self.line()) != b".":
            if self.closed:
                return  # the client left in the middle: nothing was delivered
            body.append(line)
        self.peer.messages.append(b"\r\n".join(body))
        self.connection.sendall(b"250 2.0.0 queued as 7\r\n")


@pytest.fixture
def strict() -> Iterator[StrictPeer]:
    """A StrictPeer on a free loopback port, serving one connection in a thread."""
    listener = socket.create_server(("127.0.0.1", 0))
    peer = StrictPeer(listener)
    thread = threading.Thread(target=peer.serve, daemon=True)
    thread.start()
    yield peer
    with contextlib.suppress(OSError):
        listener.shutdown(socket.SHUT_RDWR)  # wakes the thread's accept()
    listener.close()
    thread.join(5)
    assert not thread.is_alive()


def transport_to(port: int) -> SMTPTransport:
    """A transport for a loopback server."""
    return SMTPTransport({**SETTINGS, "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port})


def test_the_envelope_goes_in_one_write_and_the_message_arrives(strict: StrictPeer) -> None:
    transport = transport_to(strict.port)
    refused = transport.send("news@example.com", ["a@example.com", "b@example.com"], RAW)
    transport.close()
    assert refused == {}
    assert strict.messages == [b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\n"
                               b"..a dot\r\nbody"]
    group = strict.reads_of(b"MAIL") + strict.reads_of(b"RCPT") + strict.reads_of(b"DATA")
    assert len(group) == 4
    assert len(set(group)) == 1
    assert transport.last_reply == "250 2.0.0 queued as 7"
    mail_line = next(line for _, line in strict.lines if line.startswith(b"MAIL"))
    assert mail_line == b"MAIL FROM:<news@example.com> size=%d" % len(RAW)


def test_a_partly_refused_envelope_sends_to_the_others(strict: StrictPeer) -> None:
    strict.refuse[b"<gone@example.com>"] = b"550 5.1.1 No such user"
    transport = transport_to(strict.port)
    refused = transport.send("news@example.com", ["gone@example.com", "b@example.com"], RAW)
    transport.close()
    assert refused == {"gone@example.com": (550, "5.1.1 No such user")}
    assert len(strict.messages) == 1


def test_every_recipient_refused_sends_nothing_and_resets(strict: StrictPeer) -> None:
    strict.refuse[b"<gone@example.com>"] = b"550 5.1.1 No such user"
    transport = transport_to(strict.port)
    with pytest.raises(PermanentFailure, match="No such user"):
        transport.send("news@example.com", ["gone@example.com"], RAW)
    transport.close()
    assert strict.messages == []
    assert [line.upper() for _, line in strict.lines][-2:] == [b"RSET", b"QUIT"]


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "one-by-one"])
def test_refusals_mean_the_same_either_way(pipelining: bool) -> None:
    server = SMTPServer(pipelining=pipelining).start()
    try:
        transport = transport_to(server.port)
        server.refuse_sender("owner@example.com", "553 5.7.1 Sender not owned by the login")
        with pytest.raises(PermanentFailure, match="553"):
            transport.send("owner@example.com", ["x@example.com"], RAW)
        server.refuse_recipient("busy@example.com", "451 4.7.1 Slow down")
        with pytest.raises(Throttled):
            transport.send("news@example.com", ["busy@example.com"], RAW)
        server.fail_data("452 4.3.1 Insufficient system storage")
        with pytest.raises(TemporaryFailure, match="452"):
            transport.send("news@example.com", ["x@example.com"], RAW)
        assert transport.send("news@example.com", ["x@example.com", "busy@example.com"], RAW) == {
            "busy@example.com": (451, "4.7.1 Slow down")}
        transport.close()
        assert [m.rcpt_tos for m in server.messages] == [["x@example.com"]]
        assert transport.connections_opened == 1  # every refusal was followed by RSET, not a reconnect
    finally:
        server.stop()


def test_a_server_without_pipelining_is_spoken_to_one_command_at_a_time() -> None:
    server = SMTPServer(pipelining=False).start()
    try:
        transport = transport_to(server.port)
        transport.send("news@example.com", ["x@example.com"], RAW)
        assert transport.connection is not None
        assert not transport.connection.has_extn("pipelining")
        transport.close()
        assert len(server.messages) == 1
    finally:
        server.stop()


def test_an_international_address_is_still_delivered(smtp: SMTPServer) -> None:
    transport = transport_to(smtp.port)
    transport.send("news@example.com", ["用户@例子.测试", "b@example.com"], RAW)
    transport.close()
    assert smtp.messages[0].rcpt_tos == ["用户@例子.测试", "b@example.com"]


def test_the_strict_peer_times_out_a_client_that_waits_between_commands(strict: StrictPeer) -> None:
    client = smtplib.SMTP("127.0.0.1", strict.port, timeout=1)
    client.ehlo()
    with pytest.raises((TimeoutError, smtplib.SMTPServerDisconnected)):
        client.mail("news@example.com")
    client.close()


def test_a_data_taken_after_every_refusal_is_abandoned_by_closing(strict: StrictPeer) -> None:
    strict.refuse[b"<gone@example.com>"] = b"550 5.1.1 No such user"
    strict.always_354 = True
    transport = transport_to(strict.port)
    with pytest.raises(PermanentFailure, match="No such user"):
        transport.send("news@example.com", ["gone@example.com"], RAW)
    assert transport.connection is None  # closed, not ended with "." (which could deliver)
    assert transport.send("news@example.com", ["b@example.com"], RAW) == {}
    transport.close()
    assert len(strict.messages) == 1
    assert strict.connections == 2


def test_a_421_among_the_replies_closes_the_connection_and_nothing_is_delivered(strict: StrictPeer) -> None:
    strict.refuse[b"<busy@example.com>"] = b"421 4.7.0 Try again later"
    transport = transport_to(strict.port)
    with pytest.raises(Throttled, match="421"):
        transport.send("news@example.com", ["ok@example.com", "busy@example.com"], RAW)
    assert transport.connection is None
    assert strict.messages == []
    assert transport.send("news@example.com", ["ok@example.com"], RAW) == {}
    transport.close()
    assert len(strict.messages) == 1
    assert strict.connections == 2
