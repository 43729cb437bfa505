from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, column
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coordinator.events.models import Event, EventSession
from coordinator.extensions import db
from coordinator.timeutil import UTCDateTime, utcnow


class BroadcastStatus(StrEnum):
    """A broadcast once sent: its SMS are in the outbox (sending until none is left to send), or
    someone stopped it (what was still queued was dropped). Whether a sending broadcast is done is
    read from its messages (`services.progress`), never stored."""

    SENDING = "sending"
    STOPPED = "stopped"


SENDING, STOPPED = BroadcastStatus.SENDING, BroadcastStatus.STOPPED
STATUSES = tuple(BroadcastStatus)


class Broadcast(db.Model):
    """One SMS sent to a filtered audience of an event's contacts ("not connected yet: join now"),
    one message per mobile number, each queued in the outbox with the key
    `broadcast:<id>:<phone>` (so never twice)."""

    __tablename__ = "broadcasts"
    __table_args__ = (Index("ix_broadcasts_event", "event_id", "id"),
                      CheckConstraint(column("status", String).in_(STATUSES), name="status"))

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    #: The session whose current state and readiness the audience was chosen by.
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    #: The audience as asked: {"unit", "tier", "states", "confirmed", "roles"} (see `audience.Filter`).
    filter: Mapped[dict] = mapped_column(JSON, default=dict)
    #: The subtree it went to: the unit filtered on, else the sender's scope ("/TW/": the whole
    #: country). A coordinator sees and stops only broadcasts inside its own subtree.
    scope_path: Mapped[str] = mapped_column(String(255))
    #: The text with its placeholders, as written.
    template: Mapped[str] = mapped_column(Text)
    strip_diacritics: Mapped[bool] = mapped_column(default=False)
    #: Mobile numbers queued (one SMS each).
    recipients: Mapped[int] = mapped_column(default=0)
    #: Contacts of the audience that no SMS can reach (fixed lines, foreign numbers, opted out).
    unreachable: Mapped[int] = mapped_column(default=0)
    #: What the whole broadcast costs: the segments of every SMS queued, added up.
    segments_total: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(16), default=SENDING)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: Who sent it, readable without a user row: an email, or "cli".
    created_by_label: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Who stopped it (an email, or "cli"); "" while it was not stopped.
    stopped_by_label: Mapped[str] = mapped_column(String(255), default="")
    #: Messages still queued when it was stopped, dropped unsent.
    dropped: Mapped[int] = mapped_column(default=0)

    event: Mapped[Event] = relationship()
    session: Mapped[EventSession] = relationship()
