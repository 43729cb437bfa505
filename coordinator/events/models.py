from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text, UniqueConstraint, column
from sqlalchemy.orm import Mapped, mapped_column, relationship

from coordinator.extensions import db
from coordinator.timeutil import UTCDateTime, utcnow
from coordinator.units.models import TIERS


class EventStatus(StrEnum):
    """An event's life: draft -> published -> finished, or -> cancelled from draft/published."""

    DRAFT = "draft"
    PUBLISHED = "published"
    FINISHED = "finished"
    CANCELLED = "cancelled"


class SessionKind(StrEnum):
    """The sessions an event may have, at most one of each: a connectivity test, a rehearsal, the
    conference itself."""

    CONNECTIVITY_TEST = "connectivity_test"
    REHEARSAL = "rehearsal"
    MAIN = "main"


class DeadlineKind(StrEnum):
    """What a deadline asks units for: their focal contacts, their endpoints, or document files."""

    FOCAL_CONTACTS = "focal_contacts"
    ENDPOINTS = "endpoints"
    DOCUMENTS = "documents"


class ReminderChannel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


class ReminderAudience(StrEnum):
    """Whom a reminder goes to: the endpoints' chairs, their technical contacts, all their contacts,
    or the contacts of the units that have not met the anchor deadline yet."""

    CHAIRS = "chairs"
    TECHNICAL = "technical"
    ALL_CONTACTS = "all_contacts"
    UNITS_MISSING_DEADLINE = "units_missing_deadline"


class AnchorKind(StrEnum):
    """What a reminder is anchored to: `ReminderRule.anchor` is "<kind>:<session or deadline kind>"."""

    SESSION = "session"
    DEADLINE = "deadline"


DRAFT, PUBLISHED = EventStatus.DRAFT, EventStatus.PUBLISHED
FINISHED, CANCELLED = EventStatus.FINISHED, EventStatus.CANCELLED
STATUSES = tuple(EventStatus)
SESSION_KINDS = tuple(SessionKind)
DEADLINE_KINDS = tuple(DeadlineKind)
REMINDER_CHANNELS = tuple(ReminderChannel)
REMINDER_AUDIENCES = tuple(ReminderAudience)
# Every anchor a rule can have ("session:main", "deadline:documents", …); an event offers those of
# its own sessions and deadlines.
REMINDER_ANCHORS = (tuple(f"{AnchorKind.SESSION}:{k}" for k in SessionKind)
                    + tuple(f"{AnchorKind.DEADLINE}:{k}" for k in DeadlineKind))


class Event(db.Model):
    __tablename__ = "events"
    __table_args__ = (CheckConstraint(column("status", String).in_(STATUSES), name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The event's name in URLs, the API and plan files ("nd49-2024").
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(500))
    #: A short name for SMS ({event} in a reminder): the full title alone can cost three segments.
    short_title: Mapped[str] = mapped_column(String(160), default="")
    #: The legal basis (the letter or decision that convenes the event), quoted in the invitations.
    legal_reference: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    organizer_name: Mapped[str] = mapped_column(String(255), default="")
    organizer_office: Mapped[str] = mapped_column(String(255), default="")
    organizer_email: Mapped[str] = mapped_column(String(255), default="")
    organizer_phone: Mapped[str] = mapped_column(String(32), default="")
    #: The duty officers' mobiles (E.164): an incident nobody acknowledged within
    #: INCIDENT_ACK_SECONDS goes to them when its province's focal contacts cannot be the next level.
    duty_phones: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: The IANA zone the event's times are given and shown in.
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Ho_Chi_Minh")
    #: Which administrative structure the event's units come from ("2024" or "2025").
    unit_structure: Mapped[str] = mapped_column(String(8), default="2024")
    status: Mapped[str] = mapped_column(String(16), default=DRAFT, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Why the event was cancelled: written in the cancellation mail.
    cancel_reason: Mapped[str] = mapped_column(Text, default="")

    # The tiers in use are exactly the event's TierRole rows, in `position` order.
    tier_roles: Mapped[list[TierRole]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="TierRole.position"
    )
    sessions: Mapped[list[EventSession]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="EventSession.starts_at"
    )
    deadlines: Mapped[list[Deadline]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="Deadline.due_at"
    )
    reminder_rules: Mapped[list[ReminderRule]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="ReminderRule.id"
    )

    @property
    def tiers(self) -> list[str]:
        return [role.tier for role in self.tier_roles]

    def session(self, kind: str) -> EventSession | None:
        return next((s for s in self.sessions if s.kind == kind), None)


class TierRole(db.Model):
    """Per event and tier: who chairs and who attends ("thành phần tham dự")."""

    __tablename__ = "tier_roles"
    __table_args__ = (UniqueConstraint("event_id", "tier"),
                      CheckConstraint(column("tier", String).in_(TIERS), name="tier"))

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    tier: Mapped[str] = mapped_column(String(16))
    #: The tier's place in the plan's list of tiers: the order the event's pages show them in.
    position: Mapped[int] = mapped_column(default=0)
    #: Who chairs at this tier's endpoints, in the letter's words: quoted in their invitations.
    chair: Mapped[str] = mapped_column(Text, default="")
    #: Who attends at this tier's endpoints, likewise.
    attendees: Mapped[str] = mapped_column(Text, default="")
    #: The letter's rule: a unit of this tier without an endpoint attends at its parent's endpoint.
    may_attend_at_parent: Mapped[bool] = mapped_column(default=False)

    event: Mapped[Event] = relationship(back_populates="tier_roles")


class EventSession(db.Model):
    """A session of an event. `ical_uid` never changes; `sequence` grows on every significant change."""

    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("event_id", "kind"),
                      CheckConstraint(column("kind", String).in_(SESSION_KINDS), name="kind"))

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(500), default="")
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    location: Mapped[str] = mapped_column(Text, default="")
    #: The calendar UID of the session's invitations (RFC 5545): every recipient's entry for it.
    ical_uid: Mapped[str] = mapped_column(String(255), unique=True)
    #: The invitations' SEQUENCE: a calendar applies an update only with a higher one.
    sequence: Mapped[int] = mapped_column(default=0)

    event: Mapped[Event] = relationship(back_populates="sessions")


class Deadline(db.Model):
    """Something units of one tier must deliver by `due_at` (focal contacts, endpoints, documents)."""

    __tablename__ = "deadlines"
    __table_args__ = (UniqueConstraint("event_id", "kind", "tier"),
                      CheckConstraint(column("kind", String).in_(DEADLINE_KINDS), name="kind"),
                      CheckConstraint(column("tier", String).in_(TIERS), name="tier"))

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    #: The tier of the units that must deliver.
    tier: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: After the due time late deliveries are accepted (and marked late) until the organizer closes.
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: For `documents`: the files asked for, e.g. [{"label": "Bản scan hồ sơ", "types": ["pdf", "jpg"]}].
    required_files: Mapped[list[dict]] = mapped_column(JSON, default=list)

    event: Mapped[Event] = relationship(back_populates="deadlines")

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None


class ReminderRule(db.Model):
    """When to remind whom of what. Anchored to a session ("session:main") or a deadline
    ("deadline:focal_contacts"); `offset_seconds` is negative for "before"."""

    __tablename__ = "reminder_rules"
    __table_args__ = (UniqueConstraint("event_id", "anchor", "offset_seconds", "channel", "audience"),
                      CheckConstraint(column("anchor", String).in_(REMINDER_ANCHORS), name="anchor"),
                      CheckConstraint(column("channel", String).in_(REMINDER_CHANNELS), name="channel"),
                      CheckConstraint(column("audience", String).in_(REMINDER_AUDIENCES), name="audience"))

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    #: The session or deadline the reminder is timed from: one of REMINDER_ANCHORS.
    anchor: Mapped[str] = mapped_column(String(64))
    #: When, from the anchor's time: negative before it, positive after.
    offset_seconds: Mapped[int] = mapped_column()
    channel: Mapped[str] = mapped_column(String(8))
    audience: Mapped[str] = mapped_column(String(32))
    #: The message, with placeholders ({event}, {session}, …: events.reminder_texts) filled in per recipient.
    template: Mapped[str] = mapped_column(Text)
    #: Send the SMS without Vietnamese diacritics (GSM-7: 160 characters per segment instead of 70).
    strip_diacritics: Mapped[bool] = mapped_column(default=False)
    #: A paused rule fires nothing (and is not scheduled) until it is resumed.
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    event: Mapped[Event] = relationship(back_populates="reminder_rules")

    @property
    def anchor_kind(self) -> str:
        return self.anchor.partition(":")[0]

    @property
    def anchor_name(self) -> str:
        return self.anchor.partition(":")[2]
