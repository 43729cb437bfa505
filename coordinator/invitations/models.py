from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, column
from sqlalchemy.orm import Mapped, mapped_column

from coordinator.extensions import db
from coordinator.timeutil import UTCDateTime, utcnow



class Method(StrEnum):
    """The iCalendar METHOD of what was last sent (RFC 5546): an invitation or update, or a
    cancellation."""

    REQUEST = "REQUEST"
    CANCEL = "CANCEL"


REQUEST, CANCEL = Method.REQUEST, Method.CANCEL
METHODS = tuple(Method)


class Invitation(db.Model):
    """What one recipient's calendar holds of one session: the last invitation (or
    cancellation) queued to them, its SEQUENCE and a fingerprint of what it said.

    One row per (session, email address): a person who is a contact of two endpoints gets one
    invitation per session, since a calendar keeps one entry per UID.
    """

    __tablename__ = "invitations"
    __table_args__ = (
        UniqueConstraint("session_id", "email"),
        Index("ix_invitations_event_endpoint", "event_id", "endpoint_id"),
        Index("ix_invitations_event_email", "event_id", "email"),
        CheckConstraint(column("method", String).in_(METHODS), name="method"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    #: The recipient's address, lower case.
    email: Mapped[str] = mapped_column(String(255))
    #: Where the invitation was addressed: kept as plain ids, the contact or endpoint may be gone.
    contact_id: Mapped[int | None] = mapped_column()
    #: The endpoint of that contact (see contact_id).
    endpoint_id: Mapped[int | None] = mapped_column()
    method: Mapped[str] = mapped_column(String(8))
    #: The SEQUENCE it was sent with: the next update to this recipient carries a higher one.
    sequence: Mapped[int] = mapped_column(default=0)
    #: Hash of what the recipient's calendar shows (time, place, dial details, title).
    fingerprint: Mapped[str] = mapped_column(String(64))
    #: The key of the OutboxMessage that carries it.
    message_key: Mapped[str] = mapped_column(String(500))
    #: The time the recipient's calendar shows, so that an update can say "from … to …".
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: The end of that time (see starts_at).
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
