"""Events: create or update from a plan, publish, cancel, finish. Callable without a request.

What a change calls for elsewhere (invitations, reminders, deadline fulfilment) is done by the
receivers of the signal it sends (`coordinator.signals`: event_published, event_cancelled,
sessions_moved, event_changed, deadlines_changed), in the same transaction: this module imports
none of them. A preview makes the change in a savepoint, sends the same signals and
`change_previewed`, reads what the receivers report, and rolls it all back.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from coordinator import signals
from coordinator.audit import services as audit
from coordinator.events.consequences import Consequences, Queued
from coordinator.events.labels import STATUS_LABELS
from coordinator.events.models import (
    CANCELLED,
    DRAFT,
    FINISHED,
    PUBLISHED,
    Deadline,
    Event,
    EventSession,
    ReminderRule,
    TierRole,
)
from coordinator.events.plans import (
    MAX_SESSION,
    SESSION_TOO_LONG,
    DeadlineSpec,
    OrganizerSpec,
    PlanSpec,
    ReminderSpec,
    RequiredFileSpec,
    SessionSpec,
    TierSpec,
    clean_plan_text,
    plan_problem,
    session_hours,
)
from coordinator.extensions import db
from coordinator.fields import rule
from coordinator.messages import N_
from coordinator.problems import Invalid
from coordinator.timeutil import from_local, to_local, utcnow
from coordinator.units.services import loaded_structures


class EventStateError(Exception):
    """An action the event's current status does not allow."""


@dataclass
class ApplyResult:
    event: Event
    created: bool
    changes: list[str] = field(default_factory=list)


def _event_query():
    return select(Event).options(
        selectinload(Event.tier_roles),
        selectinload(Event.sessions),
        selectinload(Event.deadlines),
        selectinload(Event.reminder_rules),
    )


def list_events() -> list[Event]:
    return list(db.session.scalars(_event_query().order_by(Event.created_at.desc(), Event.id.desc())))


def get_event(slug: str) -> Event | None:
    return db.session.scalar(_event_query().where(Event.slug == slug))


def new_ical_uid() -> str:
    host = urlsplit(current_app.config["PUBLIC_BASE_URL"]).hostname or "localhost"
    return f"{uuid.uuid4()}@{host}"


def preview_plan(plan: PlanSpec, *, expected_slug: str | None = None, now: datetime | None = None) -> Consequences:
    """What applying `plan` to its (published) event would send: updates and cancellations of
    invitations, nothing changed. Raises Invalid as apply_plan would."""
    now = now or utcnow()
    with _rolled_back():
        _, queued = _apply(plan, None, expected_slug)
        result = Consequences(invitations=dict(queued.per_session), recipients=len(queued.recipients),
                              updates=queued.updated + queued.invited, cancellations=queued.cancelled)
    return result


def apply_plan(plan: PlanSpec, *, actor=None, expected_slug: str | None = None) -> ApplyResult:
    """Create the event of `plan`, or bring the existing one with the same slug in line with it.

    Sessions keep their iCalendar UID; a session whose time or place changes gets SEQUENCE + 1.
    Removing a session from a published event is refused: cancel the event instead.
    """
    result, _ = _apply(plan, actor, expected_slug)
    db.session.commit()
    return result


def _apply(plan: PlanSpec, actor, expected_slug: str | None) -> tuple[ApplyResult, Queued]:
    slug = expected_slug or plan.slug
    event = get_event(slug)
    created = event is None
    if created:
        if db.session.scalar(select(Event.id).where(Event.slug == plan.slug)):
            raise Invalid(plan_problem("slug", N_("an event with slug '%(slug)s' already exists"), {"slug": plan.slug}))
        event = Event(slug=plan.slug, status=DRAFT)
        db.session.add(event)
    elif plan.slug != event.slug:
        raise Invalid(plan_problem("slug", N_("the slug of an existing event cannot change")))

    try:
        changes = _sync(event, plan)
    except Invalid:
        db.session.rollback()  # nothing of a refused plan stays in the session
        raise

    changed_deadlines = [d for d in event.deadlines if f"deadline:{d.kind}:{d.tier}" in changes]
    if changed_deadlines:  # created or moved: who met it, on time or late, from the data as it is
        db.session.flush()
        signals.deadlines_changed.send(event, deadlines=changed_deadlines)
    queued = Queued()
    if created or changes:
        audit.record("event.create" if created else "event.update", "event", slug, actor=actor, changes=changes)
    if changes and not created:
        event.updated_at = utcnow()  # also when only sessions or tiers changed: feeds show it
        # A moved session goes out as an update, reminders queued for the old time are not sent:
        # in the same transaction.
        queued = Queued.total(signals.results(signals.event_changed.send(event, changes=changes)))
    return ApplyResult(event, created, changes), queued


def _sync(event: Event, plan: PlanSpec) -> list[str]:
    changes: list[str] = []
    tz = plan.timezone
    if event.status != DRAFT and event.unit_structure and plan.unit_structure != event.unit_structure:
        # Every registration, scope and invitation is in the published structure's units.
        raise Invalid(plan_problem("unit_structure", N_(
            "the administrative structure cannot change after publishing (it is %(structure)s)"),
            {"structure": event.unit_structure}))
    for attr, value in (
        ("title", plan.title),
        ("short_title", plan.short_title),
        ("legal_reference", plan.legal_reference),
        ("description", plan.description),
        ("timezone", tz),
        ("unit_structure", plan.unit_structure),
        ("organizer_name", plan.organizer.name),
        ("organizer_office", plan.organizer.office),
        ("organizer_email", plan.organizer.email),
        ("organizer_phone", plan.organizer.phone),
        ("duty_phones", list(plan.duty_phones)),
    ):
        if getattr(event, attr, None) != value:
            setattr(event, attr, value)
            changes.append(attr)

    _sync_tiers(event, plan.tiers, changes)
    _sync_sessions(event, plan.sessions, tz, changes)
    _sync_deadlines(event, plan.deadlines, tz, changes)
    _sync_reminders(event, plan.reminders, changes)

    return changes


def _sync_tiers(event: Event, specs: list[TierSpec], changes: list[str]) -> None:
    by_tier = {r.tier: r for r in event.tier_roles}
    wanted = []
    for position, spec in enumerate(specs):
        role = by_tier.pop(spec.tier, None) or TierRole(tier=spec.tier)
        new = (position, spec.chair, spec.attendees, spec.may_attend_at_parent)
        if role.id is None or (role.position, role.chair, role.attendees, role.may_attend_at_parent) != new:
            role.position, role.chair, role.attendees, role.may_attend_at_parent = new
            changes.append(f"tier:{spec.tier}")
        wanted.append(role)
    changes.extend(f"tier-removed:{t}" for t in by_tier)
    event.tier_roles = wanted


def _sync_sessions(event: Event, specs: list[SessionSpec], tz: str, changes: list[str]) -> None:
    by_kind = {s.kind: s for s in event.sessions}
    wanted = []
    for spec in specs:
        starts, ends = from_local(spec.starts_at, tz), from_local(spec.ends_at, tz)
        session = by_kind.pop(spec.kind, None)
        if session is None:
            session = EventSession(kind=spec.kind, ical_uid=new_ical_uid(), sequence=0,
                                   starts_at=starts, ends_at=ends, title=spec.title, location=spec.location)
            changes.append(f"session-added:{spec.kind}")
        else:
            significant = (session.starts_at, session.ends_at, session.location) != (starts, ends, spec.location)
            if significant:
                session.sequence += 1
            if significant or session.title != spec.title:
                session.starts_at, session.ends_at = starts, ends
                session.title, session.location = spec.title, spec.location
                changes.append(f"session:{spec.kind}")
        wanted.append(session)
    if by_kind and event.status != DRAFT:
        raise Invalid([plan_problem("sessions", N_("session '%(kind)s' cannot be removed from a %(status)s event; "
                                                   "cancel the event instead"), {"kind": kind, "status": STATUS_LABELS[event.status]})
                       for kind in by_kind])
    changes.extend(f"session-removed:{k}" for k in by_kind)
    event.sessions = wanted


def _sync_deadlines(event: Event, specs: list[DeadlineSpec], tz: str, changes: list[str]) -> None:
    by_key = {(d.kind, d.tier): d for d in event.deadlines}
    wanted = []
    for spec in specs:
        due = from_local(spec.due_at, tz)
        deadline = by_key.pop((spec.kind, spec.tier), None) or Deadline(kind=spec.kind, tier=spec.tier)
        files = [{"label": f.label, "types": [t.lower() for t in f.types]} for f in spec.required_files]
        new = (spec.title, spec.description, due, files)
        if deadline.id is None or (deadline.title, deadline.description, deadline.due_at, deadline.required_files) != new:
            deadline.title, deadline.description, deadline.due_at, deadline.required_files = new
            changes.append(f"deadline:{spec.kind}:{spec.tier}")
        wanted.append(deadline)
    changes.extend(f"deadline-removed:{k}:{t}" for k, t in by_key)
    event.deadlines = wanted


def _sync_reminders(event: Event, specs: list[ReminderSpec], changes: list[str]) -> None:
    def key(anchor, offset_seconds, channel, audience):
        return (anchor, offset_seconds, channel, audience)

    by_key = {key(r.anchor, r.offset_seconds, r.channel, r.audience): r for r in event.reminder_rules}
    wanted = []
    for spec in specs:
        k = key(spec.anchor, int(spec.offset.total_seconds()), spec.channel, spec.audience)
        rule = by_key.pop(k, None)
        if rule is None:
            rule = ReminderRule(anchor=k[0], offset_seconds=k[1], channel=k[2], audience=k[3], template=spec.template,
                                strip_diacritics=spec.strip_diacritics, active=spec.active)
            changes.append(f"reminder-added:{spec.anchor}")
        elif (rule.template, rule.strip_diacritics, rule.active) != (spec.template, spec.strip_diacritics, spec.active):
            rule.template, rule.strip_diacritics, rule.active = spec.template, spec.strip_diacritics, spec.active
            changes.append(f"reminder:{spec.anchor}")
        wanted.append(rule)
    changes.extend(f"reminder-removed:{k[0]}" for k in by_key)
    event.reminder_rules = wanted


def plan_of(event: Event) -> PlanSpec:
    """The event as a plan (wall-clock times in its zone): what the edit form starts from."""
    tz = event.timezone

    def local(dt: datetime) -> datetime:
        return to_local(dt, tz).replace(tzinfo=None)

    return PlanSpec.model_construct(
        slug=event.slug,
        title=event.title,
        short_title=event.short_title,
        legal_reference=event.legal_reference,
        description=event.description,
        timezone=tz,
        unit_structure=event.unit_structure,
        organizer=OrganizerSpec.model_construct(name=event.organizer_name, office=event.organizer_office,
                                                email=event.organizer_email, phone=event.organizer_phone),
        tiers=[TierSpec.model_construct(tier=r.tier, chair=r.chair, attendees=r.attendees,
                                        may_attend_at_parent=r.may_attend_at_parent) for r in event.tier_roles],
        sessions=[SessionSpec.model_construct(kind=s.kind, title=s.title, starts_at=local(s.starts_at),
                                              ends_at=local(s.ends_at), location=s.location) for s in event.sessions],
        deadlines=[DeadlineSpec.model_construct(
            kind=d.kind, tier=d.tier, title=d.title, description=d.description, due_at=local(d.due_at),
            required_files=[RequiredFileSpec.model_construct(**f) for f in d.required_files or []])
            for d in event.deadlines],
        reminders=[ReminderSpec.model_construct(anchor=r.anchor, offset=timedelta(seconds=r.offset_seconds), channel=r.channel,
                                                audience=r.audience, template=r.template,
                                                strip_diacritics=r.strip_diacritics, active=r.active)
                   for r in event.reminder_rules],
        duty_phones=list(event.duty_phones or []),
    )


class UnitsMissing(EventStateError):
    """The event's administrative structure has no units loaded: nobody could register."""

    def __init__(self, structure: str):
        super().__init__(f"no units of the {structure} structure are loaded: run "
                         f"`flask --app app units load --structure {structure}` first")
        self.structure = structure


def _check_publishable(event: Event) -> None:
    if event.status == PUBLISHED:
        return
    if event.status != DRAFT:
        raise EventStateError(f"a {event.status} event cannot be published")
    if event.unit_structure not in loaded_structures():
        raise UnitsMissing(event.unit_structure)


def _publish(event: Event, actor=None) -> Queued:
    event.status = PUBLISHED
    event.published_at = utcnow()
    queued = Queued.total(signals.results(signals.event_published.send(event, actor=actor)))
    audit.record("event.publish", "event", event.slug, actor=actor, invitations=queued.queued)
    return queued


def publish(event: Event, *, actor=None) -> Event:
    """Publish: invitations queued for every contact with an email. UnitsMissing when the event's
    structure has no units loaded, EventStateError when it is not a draft."""
    _check_publishable(event)
    if event.status == PUBLISHED:
        return event
    _publish(event, actor)
    db.session.commit()
    return event


def preview_publish(event: Event, now: datetime | None = None) -> Consequences:
    """What publishing would send (invitations per session, recipients, reminders still to fire
    and the first one's time), nothing changed: the same work in a savepoint, rolled back."""
    _check_publishable(event)
    now = now or utcnow()
    with _rolled_back():
        queued = _publish(event)
        result = Consequences(invitations=dict(queued.per_session), recipients=len(queued.recipients),
                              **_previewed(event, "publish", now))
    return result


def _previewed(event: Event, action: str, now: datetime) -> dict:
    """What the receivers of `change_previewed` know of a change made in a savepoint, as
    Consequences fields (reminders: how many are still to fire, the first one's time; the
    invitations' From and Reply-To when publishing)."""
    found: dict = {}
    for fields in signals.results(signals.change_previewed.send(event, action=action, now=now)):
        found.update(fields)
    return found


class _rolled_back:
    """Run a change in a savepoint and undo it, leaving the session as it was."""

    def __enter__(self):
        db.session.flush()
        self.savepoint = db.session.begin_nested()
        return self

    def __exit__(self, *exc):
        if self.savepoint.is_active:  # a refused plan already rolled everything back
            self.savepoint.rollback()
        db.session.expire_all()
        return False


def cancel(event: Event, *, actor=None, reason: str = "") -> Event:
    """Cancel: every invitation sent is withdrawn, queued reminders dropped, those reminded by SMS
    told. The reason is required (kept in the audit log and written in the cancellation mail)."""
    reason = clean_plan_text(reason, "reason", rule(Event.cancel_reason, multiline=True))
    if event.status == CANCELLED:
        return event
    if event.status == FINISHED:
        raise EventStateError("a finished event cannot be cancelled")
    if not reason:
        raise Invalid(plan_problem("reason", N_("give the reason for the cancellation: it is sent to everyone "
                                                "invited")))
    event.status = CANCELLED
    event.cancelled_at = utcnow()
    event.cancel_reason = reason[:1000]
    # Every invitation sent is withdrawn (METHOD:CANCEL); queued reminders dropped, those reminded
    # by SMS told.
    queued = Queued.total(signals.results(signals.event_cancelled.send(event, reason=reason, actor=actor)))
    audit.record("event.cancel", "event", event.slug, actor=actor, reason=reason, cancellations=queued.cancelled,
                 cancellation_sms=queued.sms)
    db.session.commit()
    return event


def _move(event: Event, kind: str, starts_at, ends_at, location, actor) -> tuple[EventSession, bool, Queued]:
    session = event.session(kind)
    if session is None:
        raise LookupError(kind)
    if event.status in (FINISHED, CANCELLED):
        raise EventStateError(f"a {event.status} event cannot change")
    new = (starts_at or session.starts_at, ends_at or session.ends_at,
           session.location if location is None else clean_plan_text(location, "location", rule(EventSession.location)))
    if new[1] <= new[0]:
        raise Invalid(plan_problem("ends_at", N_("the end must be after the start")))
    length = new[1].astimezone(timezone.utc) - new[0].astimezone(timezone.utc)  # real hours, whatever the zones
    if length > MAX_SESSION:
        raise Invalid(plan_problem("ends_at", SESSION_TOO_LONG, {"hours": session_hours(length)}))
    old = (session.starts_at, session.ends_at, session.location)
    if new == old:
        return session, False, Queued()
    session.starts_at, session.ends_at, session.location = new
    session.sequence += 1
    event.updated_at = utcnow()  # what calendar feeds show changed
    # Everyone concerned is sent an update; its reminders fire again for the new time, the old
    # ones are dropped.
    queued = Queued.total(signals.results(signals.sessions_moved.send(event, sessions=[session])))
    audit.record("session.move", "event", event.slug, actor=actor, session=kind,
                 before={"starts_at": old[0].isoformat(), "ends_at": old[1].isoformat(), "location": old[2]},
                 after={"starts_at": new[0].isoformat(), "ends_at": new[1].isoformat(), "location": new[2]})
    return session, True, queued


def move_session(event: Event, kind: str, *, starts_at: datetime | None = None, ends_at: datetime | None = None,
                 location: str | None = None, actor=None) -> EventSession:
    """Change a session's time or place (aware datetimes). A real change raises its SEQUENCE and
    sends everyone concerned an update. Raises Invalid (nothing changed) or EventStateError."""
    session, changed, _ = _move(event, kind, starts_at, ends_at, location, actor)
    if changed:
        db.session.commit()
    return session


def preview_move(event: Event, kind: str, *, starts_at: datetime | None = None, ends_at: datetime | None = None,
                 location: str | None = None, now: datetime | None = None) -> Consequences:
    """How many updates moving the session would send, nothing changed."""
    now = now or utcnow()
    with _rolled_back():
        _, _, queued = _move(event, kind, starts_at, ends_at, location, None)
        result = Consequences(invitations=dict(queued.per_session), recipients=len(queued.recipients),
                              updates=queued.updated + queued.invited, cancellations=queued.cancelled,
                              **_previewed(event, "move", now))
    return result


def finish_past_events(now: datetime | None = None) -> list[str]:
    """Mark published events whose last session has ended as finished (run by the scheduler)."""
    now = now or utcnow()
    finished = []
    for event in db.session.scalars(_event_query().where(Event.status == PUBLISHED)):
        if event.sessions and max(s.ends_at for s in event.sessions) <= now:
            event.status = FINISHED
            audit.record("event.finish", "event", event.slug, actor_label="scheduler")
            finished.append(event.slug)
    db.session.commit()
    return finished
