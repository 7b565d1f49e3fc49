"""Bounce and complaint webhooks of mail providers: who may call, and what their events mean.

Each provider authenticates a request its own way (compared in constant time), names each event
with an id (for idempotency), and turns its payload into ``Report`` values: a bounce (hard or
soft) or a complaint for one address. Three are known: ``generic`` (ours: an HMAC of the body),
``mailgun`` (HMAC of timestamp and token with the webhook signing key) and ``ses`` (Amazon SES
notifications delivered by SNS, signed with RSA; certificates come from a trusted folder, as this
service never fetches the certificate URL a request names).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from flask_mailroom.rules import suppression as rules

BOUNCE = "bounce"
COMPLAINT = "complaint"
MAILGUN_TOLERANCE = timedelta(minutes=15)
SNS_CERT_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
SNS_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
SNS_SUBSCRIPTION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                           "Type")


class WebhookRefused(Exception):
    """The request is not from the provider (401)."""


class WebhookInvalid(Exception):
    """The request is the provider's but cannot be read (400); ``field`` names what is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Report:
    """One thing a provider tells us about one address."""

    kind: str
    address: str
    bounce: str | None = None
    detail: str = ""
    message_id: str | None = None
    occurred_at: datetime | None = None


class Provider(Protocol):
    """What each provider module offers."""

    name: str

    def configured(self, config: Mapping[str, Any]) -> bool:
        """Whether its secret is set (an unconfigured provider's endpoint does not exist)."""
        ...

    def authenticate(self, headers: Mapping[str, str], body: bytes, payload: Any,
                     config: Mapping[str, Any], now: datetime) -> None:
        """Raise WebhookRefused unless the provider signed this request."""
        ...

    def event_id(self, payload: Any) -> str:
        """The provider's id of this event (WebhookInvalid when missing)."""
        ...

    def reports(self, payload: Any) -> list[Report]:
        """What the event says, address by address (nothing for events we do not act on)."""
        ...


def _text(value: Any, field: str) -> str:
    """A non-empty string field, or WebhookInvalid naming it."""
    if not isinstance(value, str) or not value.strip():
        raise WebhookInvalid(field, f"{field} is missing or not text")
    return value.strip()


def _address(value: Any, field: str) -> str:
    """An email address field: text with an @, no control characters, at most 320 characters."""
    text = _text(value, field)
    if "@" not in text or len(text) > 320 or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise WebhookInvalid(field, f"{field} is not an email address")
    return text


def _object(value: Any, field: str) -> dict[str, Any]:
    """A JSON object field, or WebhookInvalid naming it."""
    if not isinstance(value, dict):
        raise WebhookInvalid(field, f"{field} is missing or not an object")
    return value


def _when(value: Any) -> datetime | None:
    """An ISO 8601 time or Unix seconds, in UTC; None when absent or unreadable."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(float(value), UTC)
        if isinstance(value, str) and value:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison of two secrets written as text."""
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode("utf-8"))


# --- ours --------------------------------------------------------------------------------------


class Generic:
    """Our own format: one event per request, ``X-Mailroom-Signature: sha256=<hex HMAC of the body>``.

    ``{"id", "type": "bounce"|"complaint", "address", "bounce": "hard"|"soft", "message_id",
    "detail", "occurred_at"}``.
    """

    name = "generic"
    header = "X-Mailroom-Signature"

    def configured(self, config: Mapping[str, Any]) -> bool:
        """Whether MAIL_EVENTS_GENERIC_SECRET is set."""
        return bool(config.get("MAIL_EVENTS_GENERIC_SECRET"))

    def authenticate(self, headers: Mapping[str, str], body: bytes, payload: Any,
                     config: Mapping[str, Any], now: datetime) -> None:
        """The header must hold the HMAC-SHA256 of the exact body."""
        secret = str(config["MAIL_EVENTS_GENERIC_SECRET"]).encode("utf-8")
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        if not _same(headers.get(self.header, ""), expected):
            raise WebhookRefused(f"{self.header} does not match the body")

    def event_id(self, payload: Any) -> str:
        """The ``id`` field."""
        return _text(_object(payload, "body").get("id"), "id")[:255]

    def reports(self, payload: Any) -> list[Report]:
        """One bounce or complaint."""
        kind = payload.get("type")
        if kind not in (BOUNCE, COMPLAINT):
            raise WebhookInvalid("type", "type must be bounce or complaint")
        bounce = payload.get("bounce", rules.HARD) if kind == BOUNCE else None
        if bounce not in (rules.HARD, rules.SOFT, None):
            raise WebhookInvalid("bounce", "bounce must be hard or soft")
        return [Report(kind, _address(payload.get("address"), "address"), bounce,
                       str(payload.get("detail") or ""), payload.get("message_id"),
                       _when(payload.get("occurred_at")))]


# --- Mailgun -----------------------------------------------------------------------------------


class Mailgun:
    """Mailgun's webhooks: ``{"signature": {timestamp, token, signature}, "event-data": {...}}``."""

    name = "mailgun"

    def configured(self, config: Mapping[str, Any]) -> bool:
        """Whether MAIL_EVENTS_MAILGUN_SIGNING_KEY is set."""
        return bool(config.get("MAIL_EVENTS_MAILGUN_SIGNING_KEY"))

    def authenticate(self, headers: Mapping[str, str], body: bytes, payload: Any,
                     config: Mapping[str, Any], now: datetime) -> None:
        """HMAC-SHA256 of timestamp + token with the signing key, and a timestamp near now."""
        signed = payload.get("signature") if isinstance(payload, dict) else None
        if not isinstance(signed, dict):
            raise WebhookRefused("no signature")
        stamp, token = str(signed.get("timestamp", "")), str(signed.get("token", ""))
        key = str(config["MAIL_EVENTS_MAILGUN_SIGNING_KEY"]).encode("utf-8")
        expected = hmac.new(key, (stamp + token).encode("utf-8"), hashlib.sha256).hexdigest()
        if not _same(str(signed.get("signature", "")), expected):
            raise WebhookRefused("signature does not match")
        moment = _when(int(stamp)) if stamp.isdigit() else None
        if moment is None or abs(now - moment) > MAILGUN_TOLERANCE:
            raise WebhookRefused("timestamp too far from now")

    def event_id(self, payload: Any) -> str:
        """``event-data.id``."""
        return _text(_object(payload.get("event-data"), "event-data").get("id"), "event-data.id")[:255]

    def reports(self, payload: Any) -> list[Report]:
        """``failed`` is a bounce (permanent: hard, temporary: soft); ``complained`` a complaint."""
        event = payload["event-data"]
        kind = event.get("event")
        address = event.get("recipient")
        headers = (event.get("message") or {}).get("headers") or {}
        message_id = headers.get("message-id") if isinstance(headers, dict) else None
        when = _when(event.get("timestamp"))
        if kind == "complained":
            return [Report(COMPLAINT, _address(address, "event-data.recipient"), None, "complained",
                           message_id, when)]
        if kind != "failed" or event.get("reason") == "suppress-bounce":
            return []
        status = event.get("delivery-status") or {}
        detail = f"{status.get('code', '')} {status.get('message') or status.get('description') or ''}"
        bounce = rules.HARD if event.get("severity") == "permanent" else rules.SOFT
        return [Report(BOUNCE, _address(address, "event-data.recipient"), bounce, detail.strip(),
                       message_id, when)]


# --- Amazon SES through SNS --------------------------------------------------------------------


def sns_string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The canonical text SNS signs: chosen fields in order, each ``name\\nvalue\\n``."""
    kind = message.get("Type")
    fields = SNS_NOTIFICATION_FIELDS if kind == "Notification" else SNS_SUBSCRIPTION_FIELDS
    return "".join(f"{name}\n{message[name]}\n" for name in fields if name in message).encode("utf-8")


def trusted_certificate(url: str, folder: str | None) -> bytes:
    """The PEM certificate for an SNS SigningCertURL, from the operator's trusted folder."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not SNS_CERT_HOST.fullmatch(parts.hostname or ""):
        raise WebhookRefused("SigningCertURL is not an SNS address")
    name = Path(parts.path).name
    if not folder or not name.endswith(".pem") or not (Path(folder) / name).is_file():
        raise WebhookRefused(f"certificate {name!r} is not in MAIL_EVENTS_SES_CERTS")
    return (Path(folder) / name).read_bytes()


def verify_sns_signature(message: Mapping[str, Any], pem: bytes, now: datetime) -> None:
    """RSA PKCS#1 v1.5 over the string to sign, SHA1 (version 1) or SHA256 (version 2)."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    certificate = x509.load_pem_x509_certificate(pem)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise WebhookRefused("the signing certificate is not valid now")
    # SNS signature version 1 is SHA1 by Amazon's definition; version 2 is SHA256.
    versions = {"1": hashes.SHA1(), "2": hashes.SHA256()}  # noqa: S303
    algorithm = versions.get(str(message.get("SignatureVersion")))
    key = certificate.public_key()
    if algorithm is None or not isinstance(key, rsa.RSAPublicKey):
        raise WebhookRefused("unknown signature version")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
        key.verify(signature, sns_string_to_sign(message), padding.PKCS1v15(), algorithm)
    except (InvalidSignature, ValueError):
        raise WebhookRefused("signature does not verify") from None


def _ses_message_id(mail: Mapping[str, Any]) -> str | None:
    """Our Message-ID from the original headers SES passes back (it sends under its own id)."""
    for header in mail.get("headers") or []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
            return str(header.get("value"))
    common = mail.get("commonHeaders") or {}
    found = common.get("messageId") if isinstance(common, dict) else None
    return str(found) if found else None


def _ses_bounces(notice: Mapping[str, Any], message_id: str | None) -> Iterator[Report]:
    """Permanent bounces are hard; transient and undetermined ones soft."""
    bounce = _object(notice.get("bounce"), "Message.bounce")
    kind = rules.HARD if bounce.get("bounceType") == "Permanent" else rules.SOFT
    for recipient in bounce.get("bouncedRecipients") or []:
        detail = recipient.get("diagnosticCode") or f"{bounce.get('bounceType')} bounce"
        yield Report(BOUNCE, _address(recipient.get("emailAddress"), "emailAddress"), kind, str(detail),
                     message_id, _when(bounce.get("timestamp")))


def _ses_complaints(notice: Mapping[str, Any], message_id: str | None) -> Iterator[Report]:
    """Every complained recipient."""
    complaint = _object(notice.get("complaint"), "Message.complaint")
    detail = str(complaint.get("complaintFeedbackType") or "complaint")
    for recipient in complaint.get("complainedRecipients") or []:
        yield Report(COMPLAINT, _address(recipient.get("emailAddress"), "emailAddress"), None, detail,
                     message_id, _when(complaint.get("timestamp")))


class AmazonSES:
    """Amazon SES bounce and complaint notifications, delivered by an SNS subscription."""

    name = "ses"

    def configured(self, config: Mapping[str, Any]) -> bool:
        """Whether topics and a certificate folder are configured."""
        return bool(config.get("MAIL_EVENTS_SES_TOPIC_ARNS")) and bool(config.get("MAIL_EVENTS_SES_CERTS"))

    def authenticate(self, headers: Mapping[str, str], body: bytes, payload: Any,
                     config: Mapping[str, Any], now: datetime) -> None:
        """A topic we subscribed to, and a signature by a trusted SNS certificate."""
        if not isinstance(payload, dict):
            raise WebhookRefused("not an SNS message")
        topics = config["MAIL_EVENTS_SES_TOPIC_ARNS"]
        if not any(_same(str(payload.get("TopicArn", "")), str(topic)) for topic in topics):
            raise WebhookRefused("unexpected TopicArn")
        pem = trusted_certificate(str(payload.get("SigningCertURL", "")), config["MAIL_EVENTS_SES_CERTS"])
        verify_sns_signature(payload, pem, now)

    def event_id(self, payload: Any) -> str:
        """The SNS MessageId."""
        return _text(payload.get("MessageId"), "MessageId")[:255]

    def reports(self, payload: Any) -> list[Report]:
        """Bounces and complaints of a Notification; nothing for subscription messages."""
        if payload.get("Type") != "Notification":
            return []
        try:
            notice = json.loads(_text(payload.get("Message"), "Message"))
        except ValueError:
            raise WebhookInvalid("Message", "Message is not JSON") from None
        notice = _object(notice, "Message")
        kind = notice.get("notificationType") or notice.get("eventType")
        message_id = _ses_message_id(notice.get("mail") or {})
        readers: dict[str, Callable[[Mapping[str, Any], str | None], Iterator[Report]]] = {
            "Bounce": _ses_bounces, "Complaint": _ses_complaints}
        return list(readers[kind](notice, message_id)) if kind in readers else []


PROVIDERS: dict[str, Provider] = {p.name: p for p in (Generic(), Mailgun(), AmazonSES())}
