from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, column
from sqlalchemy.orm import Mapped, mapped_column

from coordinator.extensions import db
from coordinator.status.models import CONFIRMATION_CHANNELS
from coordinator.timeutil import UTCDateTime, utcnow


class RunStatus(StrEnum):
    """What became of one firing of a rule for one version of its anchor: its messages were queued,
    or it was skipped (with the reason)."""

    SENT = "sent"
    SKIPPED = "skipped"


SENT, SKIPPED = RunStatus.SENT, RunStatus.SKIPPED
RUN_STATUSES = tuple(RunStatus)


class ReminderRun(db.Model):
    """One firing of a reminder rule for one version of its anchor (the anchor's time: a session
    moved to another day is a new version, and its reminders fire again). Unique, so that a rule
    fires once per version whichever scheduler, command or retry gets there first; a reminder
    that could not be sent (its anchor passed while the scheduler was down) is kept with the reason."""

    __tablename__ = "reminder_runs"
    __table_args__ = (UniqueConstraint("rule_id", "anchor_version"),
                      CheckConstraint(column("status", String).in_(RUN_STATUSES), name="status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("reminder_rules.id", ondelete="CASCADE"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    #: Which version it fired for: the anchor's time (UTC) and the rule's offset, "20241205T0130Z-86400"
    #: (a moved session is a new version).
    anchor_version: Mapped[str] = mapped_column(String(64))
    #: When it was due (the anchor's time plus the rule's offset).
    fire_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    #: Why it was skipped ("anchor_passed", "overtaken:<rule id>"); "" when sent.
    reason: Mapped[str] = mapped_column(Text, default="")
    #: Messages queued (after dropping duplicates).
    queued: Mapped[int] = mapped_column(default=0)
    #: Recipients the channel cannot reach (no mobile number, opted out), listed for the organizer.
    unreachable: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Confirmation(db.Model):
    """A contact confirmed that their endpoint is ready for a session (by the link in a reminder,
    or by replying OK where two-way SMS exists). Once per session and contact."""

    __tablename__ = "confirmations"
    __table_args__ = (UniqueConstraint("session_id", "contact_id"), Index("ix_confirmations_endpoint", "endpoint_id"),
                      CheckConstraint(column("channel", String).in_(CONFIRMATION_CHANNELS), name="channel"))

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    #: How the contact confirmed (a ConfirmedVia: the link or an SMS reply).
    channel: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
