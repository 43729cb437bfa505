from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from coordinator.extensions import db
from coordinator.timeutil import UTCDateTime, utcnow

# Why a number gets no SMS: its owner sent STOP, the provider reported it unsubscribed (21610),
# or an organizer opted it out by hand.
SOURCES = ("sms", "provider", "organizer")


class SmsOptOut(db.Model):
    """A mobile number that must not receive SMS from this service, whatever event it appears in."""

    __tablename__ = "sms_opt_outs"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)  # E.164
    source: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    actor_label: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
