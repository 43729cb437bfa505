from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, String, Text, column
from sqlalchemy.orm import Mapped, mapped_column

from coordinator.extensions import db
from coordinator.timeutil import UTCDateTime, utcnow


class OptOutSource(StrEnum):
    """Why a number gets no SMS: its owner sent STOP, the provider reported it unsubscribed (21610),
    or an organizer opted it out by hand."""

    SMS = "sms"
    PROVIDER = "provider"
    ORGANIZER = "organizer"


SOURCES = tuple(OptOutSource)


class SmsOptOut(db.Model):
    """A mobile number that must not receive SMS from this service, whatever event it appears in."""

    __tablename__ = "sms_opt_outs"
    __table_args__ = (CheckConstraint(column("source", String).in_(SOURCES), name="source"),)

    #: E.164 ("+84913123456").
    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    #: What was said with it: the STOP message, the provider's code, the organizer's reason.
    note: Mapped[str] = mapped_column(Text, default="")
    #: Who opted it out: an organizer's email, "cli", the number itself (STOP), else the source.
    actor_label: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
