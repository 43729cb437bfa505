from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, column
from sqlalchemy.orm import Mapped, mapped_column

from coordinator.endpoints.models import PROTOCOLS
from coordinator.extensions import db
from coordinator.status import rule
from coordinator.status.rule import STATES  # re-exported: the connection states
from coordinator.timeutil import UTCDateTime, utcnow
from coordinator.units.models import TIERS


class ConnectionState(StrEnum):
    """An endpoint's connection in a session, as `status.rule` names it (its STATES)."""

    CONNECTED = rule.CONNECTED
    DEGRADED = rule.DEGRADED
    FAILED = rule.FAILED
    UNKNOWN = rule.UNKNOWN


class Source(StrEnum):
    """Who said something of an endpoint: an operator (an observation), its contact through the
    link ("self") or by SMS (readiness), or a probe (reachability)."""

    OPERATOR = rule.OPERATOR
    SELF = "self"
    SMS = "sms"
    PROBE = rule.PROBE


class ProbeLayer(StrEnum):
    """Where a probe stopped (the probes package): it answered ("ok"), or which layer failed, or
    the endpoint cannot be probed (no dial address, protocol "other")."""

    OK = "ok"
    DNS = "dns"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    SIP_ERROR = "sip_error"
    HTTP_ERROR = "http_error"
    TLS = "tls"
    NETWORK = "network"
    UNSUPPORTED = "unsupported"


class ConfirmedVia(StrEnum):
    """How a contact confirmed readiness: the one-tap link of a reminder, or an SMS reply."""

    LINK = "link"
    SMS = "sms"


class IncidentState(StrEnum):
    """Where an incident is in its life: nobody on it yet, acknowledged by an operator (its owner),
    or resolved (the endpoint connected again, or by hand with a reason)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Resolution(StrEnum):
    """How an incident was resolved: the endpoint was connected again, or someone closed it by hand."""

    RECOVERED = "recovered"
    BY_HAND = "by_hand"


class EscalationLevel(StrEnum):
    """Whom an incident nobody acknowledged in time was escalated to: the province's focal contacts
    (the first SMS went to the endpoint's own contacts), the event's duty phones, or nobody (no one
    to reach: still recorded, once)."""

    PROVINCE = "province"
    DUTY = "duty"
    NOBODY = "nobody"


class SweepOrigin(StrEnum):
    """What started a sweep of probes: the scheduler, `flask probes sweep`, or an operator probing one
    endpoint from its page."""

    SCHEDULER = "scheduler"
    COMMAND = "command"
    ENDPOINT = "endpoint"


SOURCES = tuple(Source)
# What decides the state shown, and what counts as evidence of attendance: an operator's word or a
# probe (status.rule); "" while neither has.
DECIDING_SOURCES = (Source.OPERATOR, Source.PROBE)
INCIDENT_CAUSES = DECIDING_SOURCES  # an operator's "failed", or failed probes in a row
READY = "ready"  # the state of a readiness event (a contact's confirmation): never a connection state
EVENT_STATES = (*STATES, READY)
PROBE_LAYERS = tuple(ProbeLayer)
CONFIRMATION_CHANNELS = tuple(ConfirmedVia)
SWEEP_ORIGINS = tuple(SweepOrigin)
INCIDENT_STATES = tuple(IncidentState)
RESOLUTIONS = tuple(Resolution)
ESCALATION_LEVELS = tuple(EscalationLevel)


class StatusEvent(db.Model):
    """What someone or something said of one endpoint during one session. Append-only: a
    correction is a new event. Probes (source "probe") report reachability, operators ("operator")
    an observation, contacts ("self": the link, "sms": a reply) readiness (state "ready")."""

    __tablename__ = "status_events"
    __table_args__ = (
        Index("ix_status_events_endpoint_session", "endpoint_id", "session_id", "id"),
        Index("ix_status_events_event", "event_id", "id"),
        CheckConstraint(column("source", String).in_(SOURCES), name="source"),
        CheckConstraint(column("state", String).in_(EVENT_STATES), name="state"),
        CheckConstraint(column("layer", String).in_(("", *PROBE_LAYERS)), name="layer"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16))
    #: A connection state, or READY for a contact's confirmation.
    state: Mapped[str] = mapped_column(String(16))
    #: An operator's flags: sound heard (None: not checked).
    audio: Mapped[bool | None] = mapped_column()
    #: Picture seen (None: not checked).
    video: Mapped[bool | None] = mapped_column()
    #: Shared content (slides) seen (None: not checked).
    content: Mapped[bool | None] = mapped_column()
    note: Mapped[str] = mapped_column(Text, default="")
    #: Probes: where the probe stopped (a ProbeLayer); "" for people's events.
    layer: Mapped[str] = mapped_column(String(16), default="")
    #: Probes: the SIP or HTTP status code of the answer, if any.
    code: Mapped[int | None] = mapped_column()
    #: Probes: the round-trip time, in milliseconds.
    rtt_ms: Mapped[float | None] = mapped_column()
    #: Probes: what was probed ("SIP/UDP 10.56.0.1:5060", …).
    target: Mapped[str] = mapped_column(String(255), default="")
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: Who said it, readable without a user row: an operator's email, "operator", "self", "sms", a phone.
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
                      Index("ix_endpoint_status_hold", "hold_until"),
                      # The feed of what changed: the newest changes and confirmations of a session.
                      Index("ix_endpoint_status_changed", "session_id", "changed_at"),
                      Index("ix_endpoint_status_confirmed", "session_id", "confirmed_at"),
                      CheckConstraint(column("tier", String).in_(("", *TIERS)), name="tier"),
                      CheckConstraint(column("state", String).in_(STATES), name="state"),
                      CheckConstraint(column("source", String).in_(("", *DECIDING_SOURCES)), name="source"),
                      CheckConstraint(column("check_state", String).in_(("", *STATES)), name="check_state"),
                      CheckConstraint(column("confirmed_via", String).in_(("", *CONFIRMATION_CHANNELS)),
                                      name="confirmed_via"),
                      CheckConstraint(column("probe_state", String).in_(("", *STATES)), name="probe_state"),
                      CheckConstraint(column("probe_layer", String).in_(("", *PROBE_LAYERS)), name="probe_layer"),
                      CheckConstraint(column("evidence_source", String).in_(("", *DECIDING_SOURCES)),
                                      name="evidence_source"))

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    #: The province of the endpoint's unit (a copy, for the roll-ups); "TW" for the central unit.
    province_code: Mapped[str] = mapped_column(String(8), default="")
    #: The unit's tier (a copy): what a grouped page shows of it.
    tier: Mapped[str] = mapped_column(String(16), default="")
    #: The state shown (`rule.shown`).
    state: Mapped[str] = mapped_column(String(16), default=ConnectionState.UNKNOWN)
    #: Which fact decided the state shown: an operator's or a probe's; "" for neither.
    source: Mapped[str] = mapped_column(String(16), default="")
    #: The StatusEvent that last changed this row.
    last_event_id: Mapped[int | None] = mapped_column()
    #: Since when the state shown is what it is.
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: While an operator's observation holds against the probes: until when.
    hold_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Observation: when the latest operator check was made.
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: What the latest check said (a connection state; "" before any).
    check_state: Mapped[str] = mapped_column(String(16), default="")
    #: The latest check's flags: sound heard (None: not checked).
    audio: Mapped[bool | None] = mapped_column()
    #: Picture seen (None: not checked).
    video: Mapped[bool | None] = mapped_column()
    #: Shared content (slides) seen (None: not checked).
    content: Mapped[bool | None] = mapped_column()
    #: The latest check's note (kept when a later check has none).
    note: Mapped[str] = mapped_column(Text, default="")
    #: Who made the latest check (an email, or "operator").
    checked_by: Mapped[str] = mapped_column(String(255), default="")
    #: Readiness: when a contact first confirmed.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: How (a ConfirmedVia; "" before any confirmation).
    confirmed_via: Mapped[str] = mapped_column(String(8), default="")
    #: Reachability: when the latest probe answered (or gave up).
    probed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: What the latest probe found (a connection state; "" before any probe).
    probe_state: Mapped[str] = mapped_column(String(16), default="")
    #: Where it stopped (a ProbeLayer; "" before any probe).
    probe_layer: Mapped[str] = mapped_column(String(16), default="")
    #: The SIP or HTTP status code of its answer, if any.
    probe_code: Mapped[int | None] = mapped_column()
    #: Its round-trip time, in milliseconds.
    probe_rtt_ms: Mapped[float | None] = mapped_column()
    #: What it probed ("SIP/UDP 10.56.0.1:5060", …).
    probe_target: Mapped[str] = mapped_column(String(255), default="")
    #: How many probes in a row have failed (PROBE_FAILURES_TO_ESCALATE open an incident).
    probe_failures: Mapped[int] = mapped_column(default=0)
    #: Attendance: the first evidence of connection inside the session's window (a reachable probe,
    #: an operator who saw it connected), never a confirmation.
    evidence_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Whose evidence that was: an operator's or a probe's ("" before any).
    evidence_source: Mapped[str] = mapped_column(String(16), default="")
    #: Who gave it: the operator's email (or "operator"), or "probe".
    evidence_by: Mapped[str] = mapped_column(String(255), default="")
    #: When it was last heard from, by any source: a probe it answered (connected or degraded), an
    #: operator who saw or heard it (connected or degraded), a contact's confirmation. A probe that
    #: timed out or an operator's "failed" is silence. None: never heard in this session.
    heard_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Incident(db.Model):
    """An endpoint that failed during the test or the session, from the failure until it is
    connected again (or resolved by hand). Its own technical contacts are texted once; its
    province's focal contacts get one digest per province and escalation window for all of the
    province's new incidents. An operator acknowledges it (and owns it); one nobody acknowledged
    within INCIDENT_ACK_SECONDS is escalated once more (`status.overdue`)."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_session", "session_id", "resolved_at"),
                      Index("ix_incidents_endpoint", "endpoint_id", "session_id"),
                      Index("ix_incidents_session_opened", "session_id", "opened_at"),
                      Index("ix_incidents_digest", "session_id", "province_code", "digest_id"),
                      Index("ix_incidents_overdue", "session_id", "state", "escalated_at"),
                      CheckConstraint(column("state", String).in_(INCIDENT_STATES), name="state"),
                      CheckConstraint(column("resolution", String).in_(("", *RESOLUTIONS)), name="resolution"),
                      CheckConstraint(column("escalation", String).in_(("", *ESCALATION_LEVELS)), name="escalation"),
                      CheckConstraint(column("cause", String).in_(INCIDENT_CAUSES), name="cause"),
                      CheckConstraint(column("layer", String).in_(("", *PROBE_LAYERS)), name="layer"),
                      CheckConstraint(column("protocol", String).in_(("", *PROTOCOLS)), name="protocol"),
                      CheckConstraint(column("tier", String).in_(("", *TIERS)), name="tier"))

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("endpoints.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    #: "<endpoint>:<session>" while open, NULL once resolved: at most one open incident each.
    open_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: "operator" (someone said failed) or "probe" (PROBE_FAILURES_TO_ESCALATE failed in a row).
    cause: Mapped[str] = mapped_column(String(16))
    #: What was said or found (the operator's note, the probe's detail).
    detail: Mapped[str] = mapped_column(Text, default="")
    #: What failed, for the lists and the SMS: the probe's layer ("" for an operator's report).
    layer: Mapped[str] = mapped_column(String(16), default="")
    #: The probe's SIP or HTTP code, if any.
    code: Mapped[int | None] = mapped_column()
    #: The endpoint's protocol (a copy).
    protocol: Mapped[str] = mapped_column(String(16), default="")
    #: Where: the province of the endpoint's unit (a copy; "TW" for the central unit).
    province_code: Mapped[str] = mapped_column(String(8), default="")
    #: The tier of the endpoint's unit (a copy).
    tier: Mapped[str] = mapped_column(String(16), default="")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: When it was connected again (None: still open).
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: SMS queued for this incident alone (to its endpoint's technical contacts).
    notified: Mapped[int] = mapped_column(default=0)
    #: The digest that told the province's focal contacts about it.
    digest_id: Mapped[int | None] = mapped_column(ForeignKey("incident_digests.id", ondelete="SET NULL"))
    #: The digest that told the national operators about it.
    national_digest_id: Mapped[int | None] = mapped_column(ForeignKey("incident_digests.id", ondelete="SET NULL"))
    #: Its life: open (nobody on it), acknowledged (an owner), resolved (an IncidentState).
    state: Mapped[str] = mapped_column(String(16), default=IncidentState.OPEN)
    #: Who works it: the operator who acknowledged it, or whom it was reassigned to.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: When someone first took it (acknowledged, or was assigned it).
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: How it was resolved (a Resolution; "" while it is not).
    resolution: Mapped[str] = mapped_column(String(16), default="")
    #: Why, when resolved by hand (what the person wrote).
    resolution_reason: Mapped[str] = mapped_column(Text, default="")
    #: Who resolved it by hand (None: the endpoint recovered).
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: When nobody had acknowledged it within INCIDENT_ACK_SECONDS and it was escalated (once).
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: Whom to (an EscalationLevel; "" before).
    escalation: Mapped[str] = mapped_column(String(16), default="")
    #: How many SMS that escalation queued about it.
    escalated: Mapped[int] = mapped_column(default=0)


class IncidentNote(db.Model):
    """What someone working an incident wrote down (who, when, what), shown with the endpoint's
    timeline. Append-only."""

    __tablename__ = "incident_notes"
    __table_args__ = (Index("ix_incident_notes_incident", "incident_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    #: Who wrote it, readable without a user row (a name or an email).
    author_label: Mapped[str] = mapped_column(String(255), default="")
    #: The note (coordinator.fields: several lines, at most NOTE_MAX characters).
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class IncidentDigest(db.Model):
    """One SMS digest of new incidents: to a province's focal contacts (scope: the province code)
    or to the national operators (scope "national"); at most one per scope and escalation window."""

    __tablename__ = "incident_digests"
    __table_args__ = (Index("ix_incident_digests_scope", "session_id", "scope", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    #: A province code, or "national".
    scope: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: How many new incidents it tells of.
    incidents: Mapped[int] = mapped_column(default=0)
    #: Those incidents counted per tier: {"district": 3, "commune": 12}.
    by_tier: Mapped[dict] = mapped_column(JSON, default=dict)
    #: How many numbers it was queued to.
    recipients: Mapped[int] = mapped_column(default=0)
    #: The SMS text.
    body: Mapped[str] = mapped_column(Text, default="")


class ProbeSweep(db.Model):
    """One sweep of probes: when it started and finished, how many endpoints it probed. The
    dashboards say how fresh their reachability is from these."""

    __tablename__ = "probe_sweeps"
    __table_args__ = (Index("ix_probe_sweeps_session", "session_id", "id"),
                      CheckConstraint(column("origin", String).in_(("", *SWEEP_ORIGINS)), name="origin"))

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    #: What started it (a SweepOrigin).
    origin: Mapped[str] = mapped_column(String(16), default="")
    #: The unit whose subtree it probed (`flask probes sweep --unit`); "" for the whole event.
    unit_code: Mapped[str] = mapped_column(String(16), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: None while it runs (or when it died).
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: How many endpoints it probed.
    probed: Mapped[int] = mapped_column(default=0)
    #: How long it took, in seconds.
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
    #: "TW": the central unit's own endpoint.
    province_code: Mapped[str] = mapped_column(String(8))
    #: Moves with every change to the province's endpoints.
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Moves with the rows a grouped page shows in full, and with the tile.
    head_version: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Moves when the province's tile on the national dashboard changes.
    tile_version: Mapped[int] = mapped_column(BigInteger, default=0)
