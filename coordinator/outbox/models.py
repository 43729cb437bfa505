from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from coordinator.extensions import db
from coordinator.timeutil import UTCDateTime, utcnow

# A message's life: pending -> sending -> sent, or back to pending (retry with backoff) until the
# last attempt fails it. A pending message overtaken by a newer one for the same recipient and
# subject (an update of an invitation not yet sent) is superseded and never sent.
PENDING, SENDING, SENT, FAILED, SUPERSEDED = "pending", "sending", "sent", "failed", "superseded"
STATUSES = (PENDING, SENDING, SENT, FAILED, SUPERSEDED)
CHANNELS = ("email", "sms")


class OutboxMessage(db.Model):
    """One message to one recipient. Every email and SMS passes through this table.

    `key` says what the message is, to whom, about which session and in which version
    (e.g. "invitation:<uid>:<email>:3:REQUEST"): it is unique, so the same message cannot be
    queued twice, whichever process or retry tries.
    """

    __tablename__ = "outbox_messages"
    __table_args__ = (
        # What a dispatcher asks: the due messages, oldest first.
        Index("ix_outbox_messages_status_next", "status", "next_attempt_at"),
        Index("ix_outbox_messages_status_priority", "status", "priority", "next_attempt_at"),
        Index("ix_outbox_messages_event_channel", "event_id", "channel", "status"),
        # Status callbacks find their message by the provider's id (an SMS's SID).
        Index("ix_outbox_messages_provider_ref", "provider_ref"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(500), unique=True)
    channel: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(32))  # "invitation", "reminder", …
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    recipient: Mapped[str] = mapped_column(String(255))  # an email address or an E.164 number
    # Everything the sender needs to compose the message, as decided when it was queued.
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    # Higher goes first: incident SMS and digests (10) before reminders and invitations (0), in
    # every dispatcher.
    priority: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # While `sending`: which claim holds it, and until when (a crashed dispatcher lets go). A
    # dispatcher only records the outcome of rows still under its own claim.
    claimed_by: Mapped[str] = mapped_column(String(32), default="")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    # What the provider called it: the Message-ID of an email, the SID of an SMS; the file of
    # the file backend.
    provider_ref: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the provider reported afterwards (SMS status callbacks): queued, sent, delivered,
    # undelivered, failed; with its error code when it gave one.
    delivery_status: Mapped[str] = mapped_column(String(16), default="")
    delivery_error: Mapped[str] = mapped_column(String(16), default="")
    delivery_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
