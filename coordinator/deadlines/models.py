from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coordinator.extensions import db
from coordinator.timeutil import UTCDateTime, utcnow
from coordinator.units.models import Unit


class DeadlineFulfilment(db.Model):
    """Whether one unit has met one deadline, and whether it was late. Kept up to date by
    `deadlines.services.refresh()` whenever what the deadline asks for changes."""

    __tablename__ = "deadline_fulfilments"
    __table_args__ = (UniqueConstraint("deadline_id", "unit_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    deadline_id: Mapped[int] = mapped_column(ForeignKey("deadlines.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    #: When the unit met it; None while it has not (or no longer does: its endpoints were deleted).
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Met after the due time.
    late: Mapped[bool] = mapped_column(default=False)
    #: For document requests: the unit's focal contact for the dossier, and their phone (E.164).
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    #: See contact_name.
    contact_phone: Mapped[str] = mapped_column(String(20), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    unit: Mapped[Unit] = relationship()
