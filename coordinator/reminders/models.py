from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from coordinator.extensions import db
from coordinator.timeutil import UTCDateTime, utcnow

# What became of one firing of a rule for one version of its anchor.
SENT, SKIPPED = "sent", "skipped"


class ReminderRun(db.Model):
    """One firing of a reminder rule for one version of its anchor (the anchor's time: a session
    moved to another day is a new version, and its reminders fire again). Unique, so that a rule
    fires once per version whichever scheduler, command or retry gets there first; a reminder
    that could not be sent (its anchor passed while the scheduler was down) is kept with the reason."""

    __tablename__ = "reminder_runs"
    __table_args__ = (UniqueConstraint("rule_id", "anchor_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("reminder_rules.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    anchor_version: Mapped[str] = mapped_column(String(64))
    fire_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))  # sent | skipped
    reason: Mapped[str] = mapped_column(Text, default="")
    queued: Mapped[int] = mapped_column(default=0)  # messages queued (after dropping duplicates)
    # Recipients the channel cannot reach (no mobile number, opted out), listed for the organizer.
    unreachable: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Confirmation(db.Model):
    """A contact confirmed that their endpoint is ready for a session (by the link in a reminder,
    or by replying OK where two-way SMS exists). Once per session and contact."""

    __tablename__ = "confirmations"
    __table_args__ = (UniqueConstraint("session_id", "contact_id"), Index("ix_confirmations_endpoint", "endpoint_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))  # "link" or "sms"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
