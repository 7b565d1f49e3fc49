"""Signing webhook requests as the providers do, with keys of the test's own."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from flask_mailroom.deliverability.providers import sns_string_to_sign

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail_events"
TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-bounces"
CERT_NAME = "SimpleNotificationService-mailroomtest.pem"
CERT_URL = f"https://sns.us-east-1.amazonaws.com/{CERT_NAME}"


def fixture(name: str) -> Any:
    """A JSON fixture, a fresh copy each time."""
    return copy.deepcopy(json.loads((FIXTURES / name).read_text()))


def sns_signer(folder: Path, around: datetime) -> rsa.RSAPrivateKey:
    """An RSA key and its certificate, valid around ``around``, put in the trusted folder."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(around - timedelta(days=1))
        .not_valid_after(around + timedelta(days=30)).sign(key, hashes.SHA256()))
    (folder / CERT_NAME).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return key


def sns_notification(message: dict[str, Any], key: rsa.RSAPrivateKey, message_id: str,
                     version: str = "1", topic: str = TOPIC) -> dict[str, Any]:
    """An SNS Notification carrying ``message``, signed like SNS signs (version 1: SHA1)."""
    envelope = {"Type": "Notification", "MessageId": message_id, "TopicArn": topic,
                "Message": json.dumps(message), "Timestamp": "2026-03-02T09:00:00.000Z",
                "SignatureVersion": version, "SigningCertURL": CERT_URL,
                "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"}
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()  # noqa: S303 (SNS v1 is SHA1)
    signature = key.sign(sns_string_to_sign(envelope), padding.PKCS1v15(), algorithm)
    envelope["Signature"] = base64.b64encode(signature).decode("ascii")
    return envelope


def mailgun_signed(payload: dict[str, Any], key: str, timestamp: int) -> dict[str, Any]:
    """The payload with its signature block made by ``key`` at ``timestamp``."""
    signature = payload["signature"]
    signature["timestamp"] = str(timestamp)
    digest = hmac.new(key.encode(), (signature["timestamp"] + signature["token"]).encode(), hashlib.sha256)
    signature["signature"] = digest.hexdigest()
    return payload


def generic_signature(body: bytes, secret: str) -> str:
    """The ``X-Mailroom-Signature`` header value for a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
