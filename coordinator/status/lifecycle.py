"""An incident worked by a team: open -> acknowledged (by an operator, who becomes its owner;
reassignable) -> resolved (by itself when the endpoint is connected again: `incidents.resolve_for`,
reason "recovered"; or here, by hand with a reason). Notes on the way (who, when, what).

Each step is one unit of work: checks (the person may work the incident: `status.check` on its
endpoint's unit, so a coordinator only its province's), a conditional UPDATE that only one of two
people acting at once can win (`… WHERE state = 'open'`: the database's row lock decides; the
loser is told who owns it, `IncidentConflict`), its audit entry, the province's status counters
(the pages' ETags: a second screen sees the owner appear), one commit. A refusal changes nothing.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, literal, select, update
from sqlalchemy.orm import selectinload

from coordinator.audit.services import record as audit
from coordinator.auth.models import User
from coordinator.auth.permissions import PERMISSIONS, can
from coordinator.endpoints.models import Endpoint
from coordinator.events.models import Event, EventSession
from coordinator.extensions import db
from coordinator.fields import TextRule, clean_text
from coordinator.messages import N_, Message
from coordinator.problems import Invalid, Problem
from coordinator.status import versions
from coordinator.status.incident_list import user_label
from coordinator.status.models import Incident, IncidentNote, IncidentState, Resolution
from coordinator.timeutil import UTCDateTime, utcnow
from coordinator.units.models import Unit

OPEN, ACKNOWLEDGED, RESOLVED = IncidentState.OPEN, IncidentState.ACKNOWLEDGED, IncidentState.RESOLVED
NOTE_MAX = 2000
REASON_MAX = 500
NOTE_RULE = TextRule(NOTE_MAX, multiline=True)
REASON_RULE = TextRule(REASON_MAX, multiline=True)
WORK = "status.check"  # who may work an incident: who may record a check of its endpoint


class IncidentConflict(Exception):
    """The incident's state does not allow it: someone else acknowledged it first (`owner` says
    who), or it is resolved already. Nothing was changed."""

    def __init__(self, incident: Incident, msg: Message, owner: User | None = None):
        super().__init__(msg.text)
        self.incident = incident
        self.msg = msg
        self.owner = owner


def get(incident_id: int) -> Incident | None:
    return db.session.get(Incident, incident_id)


def unit_of(incident: Incident) -> Unit:
    return db.session.scalar(select(Unit).join(Endpoint, Endpoint.unit_id == Unit.id)
                             .where(Endpoint.id == incident.endpoint_id))


def may_work(user, incident: Incident) -> bool:
    """Whether `user` may acknowledge, resolve, reassign or annotate `incident` (a coordinator:
    only within its own subtree)."""
    return can(user, WORK, unit_of(incident))


def _authorize(user, incident: Incident) -> Unit:
    unit = unit_of(incident)
    if not can(user, WORK, unit):
        raise Invalid(Problem("", Message(N_("incident #%(id)s is outside your scope: only its province's "
                                             "coordinators, the operators and the organizers may work it"),
                                          {"id": incident.id}), forbidden=True))
    return unit


def _fresh(incident: Incident) -> Incident:
    db.session.expire(incident)
    db.session.refresh(incident)
    return incident


def _owner(incident: Incident) -> User | None:
    return db.session.get(User, incident.owner_id) if incident.owner_id else None


def _resolved(incident: Incident) -> IncidentConflict:
    return IncidentConflict(incident, Message(N_("incident #%(id)s is resolved already"), {"id": incident.id}),
                            _owner(incident))


def _taken(incident: Incident, owner: User | None) -> IncidentConflict:
    return IncidentConflict(incident, Message(N_("incident #%(id)s is acknowledged already: %(owner)s owns it"), {
        "id": incident.id, "owner": user_label(owner.display_name, owner.email) if owner else "?"}), owner)


def _finish(incident: Incident, action: str, actor, unit: Unit, now: datetime, **details) -> None:
    """The step's audit entry (on the endpoint, so its history tells it), the province's status
    counters (tile included: the dashboards' box names owners), the commit."""
    slug, kind = db.session.execute(select(Event.slug, EventSession.kind).join(
        EventSession, EventSession.event_id == Event.id).where(EventSession.id == incident.session_id)).one()
    audit(action, "endpoint", incident.endpoint_id, actor=actor, incident=incident.id, event=slug, unit=unit.code,
          session=kind, **details)
    changes = versions.Changes()
    changes.add(incident.province_code, True)
    versions.bump(incident.session_id, changes)
    db.session.commit()


def acknowledge(incident: Incident, user, now: datetime | None = None) -> Incident:
    """`user` takes the incident: its state becomes acknowledged and `user` its owner. Of two
    people acknowledging at once one wins; the other gets `IncidentConflict` naming the owner.
    Acknowledging one's own incident again changes nothing."""
    now = now or utcnow()
    unit = _authorize(user, incident)
    if incident.state == RESOLVED:
        raise _resolved(incident)
    won = db.session.execute(update(Incident.__table__).where(
        Incident.__table__.c.id == incident.id, Incident.__table__.c.state == OPEN).values(
        state=ACKNOWLEDGED, owner_id=user.id, acknowledged_at=now)).rowcount
    if not won:
        db.session.rollback()  # nothing was written: end the transaction
        incident = _fresh(incident)
        if incident.state == ACKNOWLEDGED and incident.owner_id == user.id:
            return incident
        if incident.state == RESOLVED:
            raise _resolved(incident)
        raise _taken(incident, _owner(incident))
    _finish(incident, "incident.ack", user, unit, now, owner=user.id,
            owner_label=user_label(getattr(user, "display_name", ""), user.email))
    return _fresh(incident)


def workers() -> list[User]:
    """Every active account that may work incidents somewhere, by name (one query)."""
    return list(db.session.scalars(select(User).options(selectinload(User.unit)).where(
        User.active.is_(True), User.role.in_(sorted(PERMISSIONS[WORK]))).order_by(User.display_name, User.email)))


def candidates(unit, people: list[User] | None = None) -> list[User]:
    """Who an incident of `unit` may be given to: active operators, organizers and administrators,
    and the coordinators whose scope holds `unit`; by name. `people`: `workers()` read once for
    several incidents."""
    return [u for u in (workers() if people is None else people) if can(u, WORK, unit)]


def assign(incident: Incident, user, assignee_id: int, now: datetime | None = None) -> Incident:
    """Give the incident to `assignee_id` (an operator, organizer or administrator, or a coordinator
    of its province), who becomes its owner; an incident nobody had acknowledged yet is
    acknowledged by this. Refused (Invalid, field `user_id`) for anybody else; IncidentConflict
    when it is resolved."""
    now = now or utcnow()
    unit = _authorize(user, incident)
    assignee = db.session.get(User, assignee_id) if isinstance(assignee_id, int) else None
    if assignee is None or not assignee.active or not can(assignee, WORK, unit):
        raise Invalid(Problem("user_id", Message(N_(
            "this person cannot work incident #%(id)s: give it to an active operator, organizer or a coordinator "
            "of its province"), {"id": incident.id})))
    if incident.state == RESOLVED:
        raise _resolved(incident)
    if incident.owner_id == assignee.id:
        return incident
    table = Incident.__table__
    before = incident.owner_id
    won = db.session.execute(update(table).where(table.c.id == incident.id, table.c.state != RESOLVED).values(
        state=ACKNOWLEDGED, owner_id=assignee.id,
        acknowledged_at=func.coalesce(table.c.acknowledged_at, literal(now, UTCDateTime())))).rowcount
    if not won:
        db.session.rollback()
        raise _resolved(_fresh(incident))
    _finish(incident, "incident.assign", user, unit, now, owner=assignee.id,
            owner_label=user_label(assignee.display_name, assignee.email), previous=before)
    return _fresh(incident)


def clean_reason(raw) -> str:
    text, problem = clean_text(raw, REASON_RULE)
    if problem is not None:
        raise Invalid(Problem("reason", problem))
    if not text.strip():
        raise Invalid(Problem("reason", Message(N_("say why the incident is resolved"))))
    return text.strip()


def resolve(incident: Incident, user, reason, now: datetime | None = None) -> Incident:
    """Close the incident by hand with a reason (required: what was done, or why it no longer
    matters). The endpoint's probes failing on do not open it again; a new failure after the
    endpoint was seen otherwise does. IncidentConflict when it is resolved already."""
    now = now or utcnow()
    unit = _authorize(user, incident)
    reason = clean_reason(reason)
    if incident.state == RESOLVED:
        raise _resolved(incident)
    table = Incident.__table__
    won = db.session.execute(update(table).where(table.c.id == incident.id, table.c.state != RESOLVED).values(
        state=RESOLVED, resolved_at=now, open_key=None, resolution=Resolution.BY_HAND, resolution_reason=reason,
        resolved_by_id=user.id)).rowcount
    if not won:
        db.session.rollback()
        raise _resolved(_fresh(incident))
    _finish(incident, "incident.resolve", user, unit, now, reason=reason, how=Resolution.BY_HAND)
    return _fresh(incident)


def clean_note(raw) -> str:
    text, problem = clean_text(raw, NOTE_RULE)
    if problem is not None:
        raise Invalid(Problem("text", problem))
    if not text.strip():
        raise Invalid(Problem("text", Message(N_("write the note"))))
    return text.strip()


def add_note(incident: Incident, user, text, now: datetime | None = None) -> IncidentNote:
    """A note on the incident (any state: what was tried, whom was called, what comes next)."""
    now = now or utcnow()
    unit = _authorize(user, incident)
    text = clean_note(text)
    note = IncidentNote(incident_id=incident.id, author_id=getattr(user, "id", None),
                        author_label=user_label(getattr(user, "display_name", ""), getattr(user, "email", "")),
                        text=text, created_at=now)
    db.session.add(note)
    db.session.flush()
    _finish(incident, "incident.note", user, unit, now, note=note.id, text=text[:500])
    return note
