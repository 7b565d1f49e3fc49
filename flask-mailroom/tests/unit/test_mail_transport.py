"""How SMTP replies map to retry or give up, and when a message needs SMTPUTF8 (no server needed)."""

from __future__ import annotations

import smtplib

import pytest

from flask_mailroom.compose.parse import bare, decoded, unescape
from flask_mailroom.engine.recorder import Outcome
from flask_mailroom.engine.transport import (
    PermanentFailure,
    TemporaryFailure,
    Throttled,
    _refused,
    classify,
    mail_options,
)


@pytest.mark.parametrize(("code", "kind"), [(421, Throttled), (450, TemporaryFailure),
                                            (451, Throttled), (454, Throttled), (452, TemporaryFailure),
                                            (550, PermanentFailure),
                                            (554, PermanentFailure), (250, TemporaryFailure)])
def test_reply_codes_are_temporary_or_permanent(code: int, kind: type) -> None:
    error = classify(code, "text")
    assert type(error) is kind
    assert str(error) == f"{code} text"


def test_all_recipients_refused_is_permanent_only_when_every_refusal_is() -> None:
    permanent = smtplib.SMTPRecipientsRefused({"a@x": (550, b"no"), "b@x": (553, b"bad")})
    mixed = smtplib.SMTPRecipientsRefused({"a@x": (550, b"no"), "b@x": (450, b"busy")})
    assert isinstance(_refused(permanent), PermanentFailure)
    assert isinstance(_refused(mixed), TemporaryFailure)
    assert str(_refused(mixed)) == "a@x: 550 no; b@x: 450 busy"
    slow_down = smtplib.SMTPRecipientsRefused({"a@x": (451, b"later"), "b@x": (454, b"later")})
    assert isinstance(_refused(slow_down), Throttled)
    assert type(_refused(smtplib.SMTPRecipientsRefused({"a@x": (451, b"l"), "b@x": (450, b"b")}))) is (
        TemporaryFailure)


def test_smtputf8_is_asked_for_only_when_needed() -> None:
    assert mail_options("a@example.com", ["b@example.com"], b"Subject: hi\r\n\r\nx") == []
    assert mail_options("a@example.com", ["josé@example.com"], b"x") == ["SMTPUTF8"]
    assert mail_options("a@example.com", ["b@example.com"], "To: <josé@x>".encode()) == ["SMTPUTF8"]


def test_parsed_headers_come_back_as_text() -> None:
    assert unescape("jos\udcc3\udca9") == "josé"
    assert decoded("=?utf-8?b?Wm/Dqw==?=") == "Zoë"
    assert decoded("=?bogus?q?x?=") == "=?bogus?q?x?="
    assert bare(("Ann", '"a b"@Example.com')) == "a b@example.com"


def test_outcomes_of_one_shape_share_one_write_whatever_their_values() -> None:
    sent = [Outcome(n, {"status": "sent", "last_error": None, "server_reply": f"250 queued as {n}"},
                    stamp="sent_at") for n in (1, 2)]
    retried = Outcome(3, {"status": "queued", "last_error": "451"})
    assert sent[0].shape() == sent[1].shape()
    assert sent[0].shape() != retried.shape()
