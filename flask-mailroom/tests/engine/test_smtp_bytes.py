"""The SMTP connection sends plain envelope addresses and message bytes without smtplib's parsing
and regular expressions, and the server receives exactly what smtplib would have sent."""

from __future__ import annotations

import smtplib

import pytest

from flask_mailroom.engine.transport import SMTPTransport, dot_stuffed

from support.smtp import SMTPServer

SETTINGS = {"MAIL_USE_TLS": False, "MAIL_USE_SSL": False, "MAIL_TIMEOUT": 5}


@pytest.mark.parametrize("raw", [
    b"Subject: x\r\n\r\n.\r\n..two\r\nmid.dle\r\n.end",
    b".starts\r\nwith a period\r\n",
    b"no period at all\r\n",
    b"bare\n.lf line\n",
    b"",
])
def test_dot_stuffing_is_what_smtplib_does(raw: bytes) -> None:
    expected = smtplib._quote_periods(raw)  # type: ignore[attr-defined]
    expected = expected if expected.endswith(b"\r\n") else expected + b"\r\n"
    assert dot_stuffed(raw) == expected


def test_the_server_receives_the_bytes_and_envelope_as_given(smtp: SMTPServer) -> None:
    transport = SMTPTransport({**SETTINGS, **smtp.config()})
    raw = b"Subject: dots\r\n\r\n.one\r\n..two\r\nplain\r\n.\r\n"
    try:
        refused = transport.send("bounce+x=y@mailroom.test", ["a.b+c@example.com", "d@example.com"], raw)
        transport.send("noreply@mailroom.test", ["e@example.com"], b"Subject: 2\r\n\r\nsecond\r\n")
    finally:
        transport.close()
    assert refused == {}
    first, second = smtp.wait_for(2)
    assert (first.mail_from, first.rcpt_tos) == ("bounce+x=y@mailroom.test",
                                                 ["a.b+c@example.com", "d@example.com"])
    assert first.data.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    assert (second.mail_from, second.rcpt_tos, second.connection) == (
        "noreply@mailroom.test", ["e@example.com"], first.connection)
    assert transport.last_reply.startswith("250")
