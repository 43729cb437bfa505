from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from coordinator.extensions import db
from coordinator.status.rule import STATES  # noqa: F401  (re-exported: the connection states)
from coordinator.timeutil import UTCDateTime, utcnow

SOURCES = ("operator", "self", "sms", "probe")
INCIDENT_CAUSES = ("operator", "probe")  # an operator's "failed", or failed probes in a row
READY = "ready"  # the state of a readiness event (a contact's confirmation): never a connection state


class StatusEvent(db.Model):
    """What someone or something said of one endpoint during one session. Append-only: a
    correction is a new event. Probes (source "probe") report reachability, operators ("operator")
    an observation, contacts ("self": the link, "sms": a reply) readiness (state "ready")."""

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
    state: Mapped[str] = mapped_column(String(16))  # connected | degraded | failed | unknown | ready
    audio: Mapped[bool | None] = mapped_column()  # None: not checked
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
    """The three facts of one endpoint in one session (reachability, observation, readiness) and
    the state shown, derived from them by `status.rule.shown` in the same transaction as each
    change (so that the national roll-up is one grouped query over 11,400 rows)."""

    __tablename__ = "endpoint_status"
    __table_args__ = (UniqueConstraint("endpoint_id", "session_id"),
                      Index("ix_endpoint_status_session", "session_id", "probed_at"),
                      Index("ix_endpoint_status_province", "session_id", "province_code"),
                      Index("ix_endpoint_status_hold", "hold_until"))

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    province_code: Mapped[str] = mapped_column(String(8), default="")  # "TW" for the central unit
    tier: Mapped[str] = mapped_column(String(16), default="")  # the unit's: what a grouped page shows of it
    # The state shown (`rule.shown`), which fact decided it, since when; while an operator's
    # observation holds against the probes, until when.
    state: Mapped[str] = mapped_column(String(16), default="unknown")
    source: Mapped[str] = mapped_column(String(16), default="")
    last_event_id: Mapped[int | None] = mapped_column()
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    hold_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Observation: the latest operator check, its flags (None: not checked) and who made it.
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    check_state: Mapped[str] = mapped_column(String(16), default="")
    audio: Mapped[bool | None] = mapped_column()
    video: Mapped[bool | None] = mapped_column()
    content: Mapped[bool | None] = mapped_column()
    note: Mapped[str] = mapped_column(Text, default="")
    checked_by: Mapped[str] = mapped_column(String(255), default="")
    # Readiness: the contact's first confirmation, and how ("link" or "sms").
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_via: Mapped[str] = mapped_column(String(8), default="")
    # Reachability: the latest probe, and how many in a row have failed.
    probed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    probe_state: Mapped[str] = mapped_column(String(16), default="")
    probe_layer: Mapped[str] = mapped_column(String(16), default="")
    probe_code: Mapped[int | None] = mapped_column()
    probe_rtt_ms: Mapped[float | None] = mapped_column()
    probe_target: Mapped[str] = mapped_column(String(255), default="")
    probe_failures: Mapped[int] = mapped_column(default=0)
    # Attendance: the first evidence of connection inside the session's window (a reachable probe,
    # an operator who saw it connected), never a confirmation.
    evidence_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    evidence_source: Mapped[str] = mapped_column(String(16), default="")
    evidence_by: Mapped[str] = mapped_column(String(255), default="")


class Incident(db.Model):
    """An endpoint that failed during the test or the session, from the failure until it is
    connected again. Its own technical contacts are texted once; its province's focal contacts get
    one digest per province and escalation window for all of the province's new incidents."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_session", "session_id", "resolved_at"),
                      Index("ix_incidents_endpoint", "endpoint_id", "session_id"),
                      Index("ix_incidents_session_opened", "session_id", "opened_at"),
                      Index("ix_incidents_digest", "session_id", "province_code", "digest_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    # "<endpoint>:<session>" while open, NULL once resolved: at most one open incident each.
    open_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    cause: Mapped[str] = mapped_column(String(16))  # "operator" (someone said failed) or "probe"
    detail: Mapped[str] = mapped_column(Text, default="")
    # What failed, for the lists and the SMS: the probe's layer and code, the endpoint's protocol;
    # where: the province and tier of its unit.
    layer: Mapped[str] = mapped_column(String(16), default="")
    code: Mapped[int | None] = mapped_column()
    protocol: Mapped[str] = mapped_column(String(16), default="")
    province_code: Mapped[str] = mapped_column(String(8), default="")
    tier: Mapped[str] = mapped_column(String(16), default="")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notified: Mapped[int] = mapped_column(default=0)  # SMS queued for this incident alone
    # The digests that told the province's focal contacts (and the national operators) about it.
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("incident_digests.id", ondelete="SET NULL"))
    national_digest_id: Mapped[int | None] = mapped_column(ForeignKey("incident_digests.id", ondelete="SET NULL"))


class IncidentDigest(db.Model):
    """One SMS digest of new incidents: to a province's focal contacts (scope: the province code)
    or to the national operators (scope "national"); at most one per scope and escalation window."""

    __tablename__ = "incident_digests"
    __table_args__ = (Index("ix_incident_digests_scope", "session_id", "scope", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    incidents: Mapped[int] = mapped_column(default=0)
    by_tier: Mapped[dict] = mapped_column(JSON, default=dict)
    recipients: Mapped[int] = mapped_column(default=0)
    body: Mapped[str] = mapped_column(Text, default="")


class ProbeSweep(db.Model):
    """One sweep of probes: when it started and finished, how many endpoints it probed. The
    dashboards say how fresh their reachability is from these."""

    __tablename__ = "probe_sweeps"
    __table_args__ = (Index("ix_probe_sweeps_session", "session_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    origin: Mapped[str] = mapped_column(String(16), default="")  # scheduler | command | endpoint
    unit_code: Mapped[str] = mapped_column(String(16), default="")  # "" for the whole event
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    probed: Mapped[int] = mapped_column(default=0)
    seconds: Mapped[float | None] = mapped_column()


class StatusVersion(db.Model):
    """Per session and province, counters of what its status pages show, for their ETags:
    `version` moves with every change to the province's endpoints, `tile_version` only when its
    tile on the national dashboard changes (a count, readiness, an incident, the oldest probe).
    `head_version` moves with the rows a grouped page shows in full (every tier above the communes)
    and with the tile: a commune's note changes its district's page, not its province's.
    Incremented by the writing transaction itself, last before it commits, so a poller can never
    see a counter without the change it counts."""

    __tablename__ = "status_versions"
    __table_args__ = (UniqueConstraint("session_id", "province_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    province_code: Mapped[str] = mapped_column(String(8))  # "TW": the central unit's own endpoint
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    head_version: Mapped[int] = mapped_column(BigInteger, default=0)
    tile_version: Mapped[int] = mapped_column(BigInteger, default=0)
