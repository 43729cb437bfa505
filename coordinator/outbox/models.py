from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, column
from sqlalchemy.orm import Mapped, mapped_column

from coordinator.extensions import db
from coordinator.timeutil import UTCDateTime, utcnow



class MessageStatus(StrEnum):
    """A message's life: pending -> sending -> sent, or back to pending (retry with backoff) until
    the last attempt fails it. A pending message overtaken by a newer one for the same recipient
    and subject (an update of an invitation not yet sent) is superseded and never sent."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SUPERSEDED = "superseded"


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"


class Doubt(StrEnum):
    """A message whose last request may have reached the provider without its answer reaching us
    (the dispatcher was killed while it was in flight, the provider answered after SMS_TIMEOUT, the
    connection dropped after the request went out) is in doubt until it is resolved. Never in
    doubt: "" (nearly every message)."""

    #: Not resolved yet; an SMS is looked up at the provider before any new request.
    UNCERTAIN = "uncertain"
    #: The provider had it: recorded as sent with the provider's reference, not sent again.
    FOUND = "found"
    #: The provider had none: sent again, no duplicate.
    ABSENT = "absent"
    #: Sent again without confirmation (no lookup possible: email, the log backend, a provider
    #: refusing the lookup): possibly received twice.
    UNCONFIRMED = "unconfirmed"


class DeliveryStatus(StrEnum):
    """What the SMS provider reported of a sent message afterwards (Twilio's status callbacks; a
    later report never moves it backwards: sms.services). Not reported yet: ""."""

    ACCEPTED = "accepted"
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    RECEIVING = "receiving"
    RECEIVED = "received"
    DELIVERED = "delivered"
    READ = "read"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    CANCELED = "canceled"


PENDING, SENDING, SENT = MessageStatus.PENDING, MessageStatus.SENDING, MessageStatus.SENT
FAILED, SUPERSEDED = MessageStatus.FAILED, MessageStatus.SUPERSEDED
STATUSES = tuple(MessageStatus)
CHANNELS = tuple(Channel)
UNCERTAIN, FOUND, ABSENT, UNCONFIRMED = Doubt.UNCERTAIN, Doubt.FOUND, Doubt.ABSENT, Doubt.UNCONFIRMED
DOUBTS = tuple(Doubt)


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
        CheckConstraint(column("channel", String).in_(CHANNELS), name="channel"),
        CheckConstraint(column("status", String).in_(STATUSES), name="status"),
        CheckConstraint(column("doubt", String).in_(("", *Doubt)), name="doubt"),
        CheckConstraint(column("delivery_status", String).in_(("", *DeliveryStatus)), name="delivery_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: What the message is, to whom, about what, in which version (see above): never queued twice.
    key: Mapped[str] = mapped_column(String(500), unique=True)
    channel: Mapped[str] = mapped_column(String(8))
    #: What composes it: "invitation", "reminder", … (the composers registered with the outbox).
    kind: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    #: An email address or an E.164 number.
    recipient: Mapped[str] = mapped_column(String(255))
    #: Everything the sender needs to compose the message, as decided when it was queued.
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    #: Higher goes first: incident SMS and digests (10) before reminders and invitations (0), in
    #: every dispatcher.
    priority: Mapped[int] = mapped_column(default=0)
    #: Requests made so far (the last one fails it: OUTBOX_MAX_ATTEMPTS).
    attempts: Mapped[int] = mapped_column(default=0)
    #: Not sent before this time (the backoff after a failed attempt).
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: While `sending`: which claim holds it (until `locked_until`: a crashed dispatcher lets go). A
    #: dispatcher only records the outcome of rows still under its own claim.
    claimed_by: Mapped[str] = mapped_column(String(32), default="")
    #: While `sending`: when the claim lapses.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: While `sending`: the dispatcher process of that claim (`OutboxDispatcher.id`): when that
    #: process dies, the active scheduler releases its claims at once, without waiting for the lease.
    dispatcher: Mapped[str] = mapped_column(String(32), default="", server_default="")
    #: When the current attempt's request went out: for an SMS written (committed) just before its
    #: request, for an email when the batch was claimed. Set: the provider may have it.
    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: In doubt: since when (the first attempt whose outcome is unknown: where the provider lookup
    #: starts).
    uncertain_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Whether its outcome was ever unknown, and how that ended (a Doubt; "": never in doubt).
    doubt: Mapped[str] = mapped_column(String(16), default="", server_default="")
    last_error: Mapped[str] = mapped_column(Text, default="")
    #: What the provider called it: the Message-ID of an email, the SID of an SMS; the file of
    #: the file backend.
    provider_ref: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: What the provider reported afterwards (a DeliveryStatus; "": nothing yet).
    delivery_status: Mapped[str] = mapped_column(String(16), default="")
    #: The provider's error code with that report, when it gave one (Twilio's "30003", …).
    delivery_error: Mapped[str] = mapped_column(String(16), default="")
    delivery_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboxDispatcher(db.Model):
    """A dispatcher process (the scheduler's, `flask outbox dispatch`, each of `--processes`):
    its claims carry its id. On PostgreSQL it holds a session-level advisory lock on
    (`DISPATCHER_LOCK_CLASS`, `lock_key`) for as long as it lives: when the lock is free the process
    is gone. Elsewhere it renews `heartbeat_at` every OUTBOX_HEARTBEAT_SECONDS, and a row older
    than OUTBOX_DISPATCHER_STALE_SECONDS is a dead process."""

    __tablename__ = "outbox_dispatchers"

    #: Random, named on the process's claims (`OutboxMessage.dispatcher`).
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: Where the process runs: its host name and process id.
    host: Mapped[str] = mapped_column(String(255), default="")
    pid: Mapped[int] = mapped_column(default=0)
    #: The second key of its advisory lock (PostgreSQL), with DISPATCHER_LOCK_CLASS.
    lock_key: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
