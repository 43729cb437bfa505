from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from coordinator.extensions import db
from coordinator.timeutil import UTCDateTime


class SchedulerLease(db.Model):
    """Which scheduler process is active, and when it last said so. On PostgreSQL leadership is an
    advisory lock and this row only shows it; elsewhere the lease itself decides (a standby takes
    over once `expires_at` has passed)."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
