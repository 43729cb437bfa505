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

    #: Which lease: "scheduler" (the one there is).
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The process holding it: "<host>:<pid>:<random>".
    holder: Mapped[str] = mapped_column(String(255))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: When the holder last renewed it.
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: After this a standby may take it over (without PostgreSQL's advisory lock).
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
