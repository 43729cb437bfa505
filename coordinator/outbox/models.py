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

# A message whose last request may have reached the provider without its answer reaching us (the
# dispatcher was killed while it was in flight, the provider answered after SMS_TIMEOUT, the
# connection dropped after the request went out) is in doubt until it is resolved:
# - UNCERTAIN: not resolved yet; an SMS is looked up at the provider before any new request;
# - FOUND: the provider had it: recorded as sent with the provider's reference, not sent again;
# - ABSENT: the provider had none: sent again, no duplicate;
# - UNCONFIRMED: sent again without confirmation (no lookup possible: email, the log backend, a
#   provider refusing the lookup): possibly received twice.
UNCERTAIN, FOUND, ABSENT, UNCONFIRMED = "uncertain", "found", "absent", "unconfirmed"
DOUBTS = (UNCERTAIN, FOUND, ABSENT, UNCONFIRMED)


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
        # The counts of messages in doubt (`outbox status`, the outbox page); nearly all rows have "".
        Index("ix_outbox_messages_doubt", "doubt"),
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
    # While `sending`: the dispatcher process of that claim (`OutboxDispatcher.id`): when that
    # process dies, the active scheduler releases its claims at once, without waiting for the lease.
    dispatcher: Mapped[str] = mapped_column(String(32), default="", server_default="")
    # When the current attempt's request went out: for an SMS written (committed) just before its
    # request, for an email when the batch was claimed. Set: the provider may have it.
    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # In doubt (see DOUBTS): since when (the first attempt whose outcome is unknown: where the
    # provider lookup starts), and how it ended.
    uncertain_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    doubt: Mapped[str] = mapped_column(String(16), default="", server_default="")
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


class OutboxDispatcher(db.Model):
    """A dispatcher process (the scheduler's, `flask outbox dispatch`, each of `--processes`):
    its claims carry its id. On PostgreSQL it holds a session-level advisory lock on
    (`DISPATCHER_LOCK_CLASS`, `lock_key`) for as long as it lives: when the lock is free the process
    is gone. Elsewhere it renews `heartbeat_at` every OUTBOX_HEARTBEAT_SECONDS, and a row older
    than OUTBOX_DISPATCHER_STALE_SECONDS is a dead process."""

    __tablename__ = "outbox_dispatchers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(default=0)
    lock_key: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
