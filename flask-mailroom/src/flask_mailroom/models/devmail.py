"""The development mailbox: what would have reached a real mail server."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from flask_mailroom.models.base import BigId, MailBase


class DevMail(MailBase):
    """One message delivered into the development mailbox, by the worker or the SMTP catcher."""

    __tablename__ = "dev_mail"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    mail_from: Mapped[str] = mapped_column(String(512))
    rcpt_to: Mapped[list[str]] = mapped_column(JSON)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(16), default="worker")
