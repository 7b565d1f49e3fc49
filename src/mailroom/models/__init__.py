"""The data model: every table Mailroom keeps."""

from flask_mailroom.models import DevMail, InboundEvent, MailEvent, OutboxMessage, OutboxStatus, Suppression

from mailroom.db import Base, UTCDateTime
from mailroom.models.announcement import Announcement, AnnouncementAttachment
from mailroom.models.codes import VerificationCode
from mailroom.models.device import ResetHandoff, TrustedDevice
from mailroom.models.reservation import AddressReservation
from mailroom.models.session import UserSession
from mailroom.models.user import User

__all__ = [
    "AddressReservation",
    "Announcement",
    "AnnouncementAttachment",
    "Base",
    "DevMail",
    "InboundEvent",
    "MailEvent",
    "OutboxMessage",
    "OutboxStatus",
    "ResetHandoff",
    "Suppression",
    "TrustedDevice",
    "UTCDateTime",
    "User",
    "UserSession",
    "VerificationCode",
]
