"""Provider webhooks at POST /mail/events/<provider>, with the providers' documented sample payloads:
forged requests are refused, replays change nothing, bounces suppress, complaints unsubscribe, and
the reply comes before the processing (which the delivery worker does)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask
from flask.testing import FlaskClient
from flask_mailroom.deliverability import suppression as deliverability
from sqlalchemy import func, select

from mailroom.extensions import db
from mailroom.models import InboundEvent, MailEvent, Suppression, User
from tests.conftest import START
from tests.support.accounts import stored_user
from tests.support.webhooks import (
    TOPIC,
    fixture,
    generic_signature,
    mailgun_signed,
    sns_notification,
    sns_signer,
)

GENERIC_SECRET = "generic-webhook-secret-for-tests"
MAILGUN_KEY = "mailgun-signing-key-for-tests"
NOW = int(START.timestamp())


@pytest.fixture
def sns_certs(tmp_path: Path) -> Path:
    """The folder of trusted SNS certificates."""
    folder = tmp_path / "sns-certs"
    folder.mkdir()
    return folder


@pytest.fixture
def app_config(sns_certs: Path) -> dict[str, Any]:
    """Every provider configured."""
    return {"MAIL_EVENTS_GENERIC_SECRET": GENERIC_SECRET, "MAIL_EVENTS_MAILGUN_SIGNING_KEY": MAILGUN_KEY,
            "MAIL_EVENTS_SES_TOPIC_ARNS": [TOPIC], "MAIL_EVENTS_SES_CERTS": str(sns_certs)}


@pytest.fixture
def sns_key(sns_certs: Path) -> rsa.RSAPrivateKey:
    """The signing key whose certificate is trusted."""
    return sns_signer(sns_certs, START)


def post(client: FlaskClient, provider: str, payload: Any, headers: dict[str, str] | None = None) -> Any:
    """POST a JSON body as the provider would."""
    body = json.dumps(payload).encode()
    return client.post(f"/mail/events/{provider}", data=body, headers=headers or {},
                       content_type="application/json")


def post_generic(client: FlaskClient, payload: dict[str, Any], secret: str = GENERIC_SECRET) -> Any:
    """POST our own format, signed with ``secret``."""
    body = json.dumps(payload).encode()
    return client.post("/mail/events/generic", data=body, content_type="application/json",
                       headers={"X-Mailroom-Signature": generic_signature(body, secret)})


def state(app: Flask, address: str) -> tuple[str, str] | None:
    """(scope, reason) of the address's suppression, or None."""
    with app.app_context():
        found = deliverability.suppression_of(address)
        return None if found is None else (found.scope, found.reason)


def counts(app: Flask) -> tuple[int, int, int]:
    """How many stored events, address events and suppressions there are."""
    with app.app_context():
        return tuple(int(db.session.scalar(select(func.count()).select_from(model)) or 0)
                     for model in (InboundEvent, MailEvent, Suppression))  # type: ignore[return-value]


# --- ours --------------------------------------------------------------------------------------

BOUNCE = {"id": "evt-1", "type": "bounce", "bounce": "hard", "address": "gone@example.org",
          "detail": "550 5.1.1 user unknown"}


def test_the_reply_comes_first_and_the_worker_applies_the_event(
        app: Flask, client: FlaskClient, deliver: Callable[[], int]) -> None:
    response = post_generic(client, BOUNCE)
    assert (response.status_code, response.json["message"]) == (200, "accepted")
    assert response.json["data"] == {"event_id": "evt-1", "duplicate": False}
    assert state(app, "gone@example.org") is None
    assert counts(app) == (1, 0, 0)
    deliver()
    assert state(app, "gone@example.org") == ("all", "hard bounce")


def test_a_replayed_event_changes_nothing(app: Flask, client: FlaskClient,
                                          deliver: Callable[[], int]) -> None:
    post_generic(client, BOUNCE)
    deliver()
    before = counts(app)
    again = post_generic(client, BOUNCE)
    assert (again.status_code, again.json["data"]["duplicate"]) == (200, True)
    deliver()
    assert counts(app) == before == (1, 1, 1)


def test_a_forged_signature_is_refused_and_nothing_is_stored(app: Flask, client: FlaskClient) -> None:
    assert post_generic(client, BOUNCE, secret="not-the-secret").status_code == 401
    assert post(client, "generic", BOUNCE).status_code == 401
    assert counts(app) == (0, 0, 0)


def test_bad_requests_name_what_is_wrong(client: FlaskClient) -> None:
    for address in ("", "no-at-sign", "nul\x00@example.com"):
        refused = post_generic(client, {**BOUNCE, "address": address})
        assert (refused.status_code, refused.json["data"]["field"]) == (400, "address")
    body = b"{not json"
    garbled = client.post("/mail/events/generic", data=body,
                          headers={"X-Mailroom-Signature": generic_signature(body, GENERIC_SECRET)})
    assert (garbled.status_code, garbled.json["data"]["field"]) == (400, "body")
    assert post(client, "sendgrid", BOUNCE).status_code == 404


@pytest.mark.parametrize("shape", [{"message": "not an object"}, {"delivery-status": ["x"]}])
def test_a_signed_event_of_the_wrong_shape_is_a_400_not_a_500(client: FlaskClient,
                                                                shape: dict[str, Any]) -> None:
    payload = mailgun_signed(fixture("mailgun_failed.json"), MAILGUN_KEY, NOW)
    payload["event-data"].update(shape)
    answer = post(client, "mailgun", payload)
    assert (answer.status_code, answer.json["data"]["field"]) == (400, "body")


@pytest.mark.parametrize("app_config", [{}])
def test_an_unconfigured_provider_has_no_endpoint(client: FlaskClient) -> None:
    assert post_generic(client, BOUNCE).status_code == 404


# --- Mailgun -----------------------------------------------------------------------------------


def test_mailgun_permanent_failure_suppresses(app: Flask, client: FlaskClient,
                                              deliver: Callable[[], int]) -> None:
    payload = mailgun_signed(fixture("mailgun_failed.json"), MAILGUN_KEY, NOW)
    assert post(client, "mailgun", payload).status_code == 200
    deliver()
    assert state(app, "recipient@sample.mailgun.com") == ("all", "hard bounce")


def test_mailgun_complaint_unsubscribes_from_bulk(app: Flask, client: FlaskClient,
                                                  deliver: Callable[[], int],
                                                  make_user: Callable[..., User]) -> None:
    user = make_user("sample", "recipient@sample.mailgun.com")
    payload = mailgun_signed(fixture("mailgun_complained.json"), MAILGUN_KEY, NOW)
    assert post(client, "mailgun", payload).status_code == 200
    deliver()
    assert state(app, "recipient@sample.mailgun.com") == ("bulk", "complaint")
    assert stored_user(app, user.id).subscribed is False


@pytest.mark.parametrize("tamper", ["key", "token", "stale"])
def test_mailgun_forgeries_are_refused(app: Flask, client: FlaskClient, tamper: str) -> None:
    key, stamp = ("someone-else", NOW) if tamper == "key" else (MAILGUN_KEY, NOW)
    if tamper == "stale":
        stamp = NOW - 3600
    payload = mailgun_signed(fixture("mailgun_failed.json"), key, stamp)
    if tamper == "token":
        payload["signature"]["token"] = "x" + payload["signature"]["token"][1:]
    assert post(client, "mailgun", payload).status_code == 401
    assert counts(app) == (0, 0, 0)


# --- Amazon SES through SNS --------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_ses_bounce_suppresses(app: Flask, client: FlaskClient, deliver: Callable[[], int],
                               sns_key: rsa.RSAPrivateKey, version: str) -> None:
    envelope = sns_notification(fixture("ses_bounce.json"), sns_key, "sns-bounce-1", version)
    assert post(client, "ses", envelope).status_code == 200
    deliver()
    assert state(app, "jane@example.com") == ("all", "hard bounce")
    with app.app_context():
        [event] = db.session.scalars(select(MailEvent))
        assert (event.kind, event.source) == ("bounce_hard", "webhook:ses")
        assert event.detail == "smtp; 550 5.1.1 <jane@example.com>... User"


def test_ses_complaint_unsubscribes_from_bulk(app: Flask, client: FlaskClient,
                                              deliver: Callable[[], int],
                                              sns_key: rsa.RSAPrivateKey) -> None:
    envelope = sns_notification(fixture("ses_complaint.json"), sns_key, "sns-complaint-1")
    assert post(client, "ses", envelope).status_code == 200
    deliver()
    assert state(app, "richard@example.com") == ("bulk", "complaint")


# Input refused by validation: the database cannot change the outcome, so one is enough.
@pytest.mark.parametrize("db_backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("tamper", ["message", "topic", "certificate", "certificate-host"])
def test_ses_forgeries_are_refused(app: Flask, client: FlaskClient, sns_key: rsa.RSAPrivateKey,
                                   sns_certs: Path, tamper: str) -> None:
    envelope = sns_notification(fixture("ses_bounce.json"), sns_key, "sns-bounce-2",
                                topic=TOPIC if tamper != "topic" else TOPIC + "-other")
    if tamper == "message":
        envelope["Message"] = envelope["Message"].replace("jane@example.com", "victim@example.com")
    if tamper == "certificate":
        sns_signer(sns_certs, START)  # a different key now holds the trusted certificate's name
    if tamper == "certificate-host":
        envelope["SigningCertURL"] = envelope["SigningCertURL"].replace("amazonaws.com", "example.com")
    assert post(client, "ses", envelope).status_code == 401
    assert counts(app) == (0, 0, 0)


def test_a_bounce_names_the_message_it_answers(app: Flask, client: FlaskClient, smtp: Any,
                                               deliver: Callable[[], int]) -> None:
    from flask_mailroom.compose.outbox import send_email

    from mailroom.state import now

    with app.app_context():
        row = send_email("test", "gone@example.org", sent_at=now(), address="gone@example.org",
                         site_url="https://mailroom.test/")
        db.session.commit()
        row_id, message_id = row.id, row.message_id
    deliver()
    post_generic(client, {**BOUNCE, "message_id": message_id})
    deliver()
    with app.app_context():
        [event] = db.session.scalars(select(MailEvent))
        assert event.outbox_id == row_id
