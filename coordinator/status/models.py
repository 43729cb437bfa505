from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from coordinator.extensions import db
from coordinator.timeutil import UTCDateTime, utcnow

STATES = ("connected", "degraded", "failed", "unknown")
SOURCES = ("operator", "self", "sms", "probe")


class StatusEvent(db.Model):
    """What someone or something observed of one endpoint during one session. Append-only: a
    correction is a new event; the current status is derived from the latest ones."""

    __tablename__ = "status_events"
    __table_args__ = (
        Index("ix_status_events_endpoint_session", "endpoint_id", "session_id", "id"),
        Index("ix_status_events_event", "event_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16))  # operator | self | sms | probe
    state: Mapped[str] = mapped_column(String(16))  # connected | degraded | failed | unknown
    audio: Mapped[bool | None] = mapped_column()
    video: Mapped[bool | None] = mapped_column()
    content: Mapped[bool | None] = mapped_column()  # shared content (slides) seen
    note: Mapped[str] = mapped_column(Text, default="")
    # Probes: which layer failed (dns, timeout, refused, sip_error, http_error, tls, network; ok),
    # the SIP or HTTP code, the round-trip time, and what was probed.
    layer: Mapped[str] = mapped_column(String(16), default="")
    code: Mapped[int | None] = mapped_column()
    rtt_ms: Mapped[float | None] = mapped_column()
    target: Mapped[str] = mapped_column(String(255), default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_label: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EndpointStatus(db.Model):
    """The current status of one endpoint in one session, derived from its status events (kept in
    the same transaction as each event, so that the national roll-up is one query, not a search
    for the latest event of 11,400 endpoints)."""

    __tablename__ = "endpoint_status"
    __table_args__ = (UniqueConstraint("endpoint_id", "session_id"),
                      # The dashboards' ETag asks for the latest probe of a session.
                      Index("ix_endpoint_status_session", "session_id", "probed_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default="unknown")  # the latest event's
    source: Mapped[str] = mapped_column(String(16), default="")
    last_event_id: Mapped[int | None] = mapped_column()
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The latest check by a person (operator, or the endpoint's contact) and its flags.
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_state: Mapped[str] = mapped_column(String(16), default="")
    audio: Mapped[bool | None] = mapped_column()
    video: Mapped[bool | None] = mapped_column()
    content: Mapped[bool | None] = mapped_column()
    note: Mapped[str] = mapped_column(Text, default="")
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # by its contact (link or SMS)
    # The latest probe, and how many in a row have failed.
    probed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    probe_state: Mapped[str] = mapped_column(String(16), default="")
    probe_layer: Mapped[str] = mapped_column(String(16), default="")
    probe_code: Mapped[int | None] = mapped_column()
    probe_rtt_ms: Mapped[float | None] = mapped_column()
    probe_target: Mapped[str] = mapped_column(String(255), default="")
    probe_failures: Mapped[int] = mapped_column(default=0)


class Incident(db.Model):
    """An endpoint that failed during the test or the session, from the failure until it is
    connected again. Its contacts are told once per incident."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_session", "session_id", "resolved_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    # "<endpoint>:<session>" while open, NULL once resolved: at most one open incident each.
    open_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    cause: Mapped[str] = mapped_column(String(16))  # "operator" (someone said failed) or "probe"
    detail: Mapped[str] = mapped_column(Text, default="")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notified: Mapped[int] = mapped_column(default=0)  # SMS queued
