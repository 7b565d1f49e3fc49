"""What each running delivery worker reports at every heartbeat, for ``mail status`` and the dashboard."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Float, String, Table
from sqlalchemy.orm import Mapped, mapped_column

from flask_mailroom.models.base import MailBase


class MailWorker(MailBase):
    """One worker process: its connections, what it holds, what it did, its breaker's state."""

    __tablename__ = "mail_workers"
    __table__: ClassVar[Table]

    worker_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    started_at: Mapped[datetime]
    seen_at: Mapped[datetime] = mapped_column(index=True)
    connections: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    in_flight: Mapped[int] = mapped_column(default=0)
    sent: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    throttled: Mapped[int] = mapped_column(default=0)
    unreachable: Mapped[int] = mapped_column(default=0)
    rate: Mapped[float] = mapped_column(Float, default=0.0)
    breaker: Mapped[str] = mapped_column(String(16), default="closed")

    def __repr__(self) -> str:
        """The worker and its breaker."""
        return f"<MailWorker {self.worker_id} {self.breaker}>"
