"""Deadlines: per-unit fulfilment, the registration window (open / late / closed), closing and reopening."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from coordinator.audit import services as audit
from coordinator.deadlines.models import DeadlineFulfilment
from coordinator.events.models import CANCELLED, FINISHED, Deadline, Event
from coordinator.extensions import db
from coordinator.messages import N_, Message
from coordinator.timeutil import utcnow
from coordinator.units.models import Unit

OPEN, LATE, CLOSED = "open", "late", "closed"
# The deadlines that govern registering endpoints and contacts for units of their tier.
REGISTRATION_KINDS = ("endpoints", "focal_contacts")


@dataclass(frozen=True)
class Window:
    state: str  # open | late | closed
    deadline: Deadline | None = None  # the deadline that makes it late or closed

    @property
    def accepts(self) -> bool:
        return self.state != CLOSED


class RegistrationClosed(Exception):
    def __init__(self, message: Message):
        self.msg = message
        super().__init__(message.text)


def registration_window(event: Event, tier: str, now: datetime | None = None) -> Window:
    """Whether units of `tier` may still register endpoints and contacts, and whether it is late."""
    if event.status in (CANCELLED, FINISHED):
        return Window(CLOSED)
    now = now or utcnow()
    governing = [d for d in event.deadlines if d.tier == tier and d.kind in REGISTRATION_KINDS]
    closed = next((d for d in governing if d.is_closed), None)
    if closed:
        return Window(CLOSED, closed)
    passed = [d for d in governing if d.due_at <= now]
    if passed:
        return Window(LATE, min(passed, key=lambda d: d.due_at))
    return Window(OPEN)


def ensure_open(event: Event, unit: Unit) -> Window:
    window = registration_window(event, unit.tier)
    if not window.accepts:
        if window.deadline is None:
            raise RegistrationClosed(Message(N_("this event is %(status)s: registration is closed"),
                                             {"status": event.status}))
        raise RegistrationClosed(Message(N_("the organizer has closed registration for %(unit)s"), {"unit": unit.name}))
    return window


def _met(deadline: Deadline, unit_id: int) -> bool:
    from coordinator.endpoints.models import Contact, Endpoint, HostedUnit

    if deadline.kind == "endpoints":
        own = select(Endpoint.id).where(Endpoint.event_id == deadline.event_id, Endpoint.unit_id == unit_id)
        hosted = select(HostedUnit.id).where(HostedUnit.event_id == deadline.event_id, HostedUnit.unit_id == unit_id)
        return db.session.scalar(own.union_all(hosted).limit(1)) is not None
    if deadline.kind == "focal_contacts":
        stmt = (select(Contact.id).join(Endpoint)
                .where(Endpoint.event_id == deadline.event_id, Endpoint.unit_id == unit_id, Contact.role == "technical")
                .limit(1))
        return db.session.scalar(stmt) is not None
    if deadline.kind == "documents":
        from coordinator.documents.services import is_complete

        return is_complete(deadline, unit_id)
    return False


def refresh(event: Event, units: Iterable[Unit], now: datetime | None = None) -> None:
    """Recompute the fulfilment of every deadline of `event` that concerns `units` (in the
    caller's transaction). A unit that meets a deadline after its due time is marked late; one
    that stops meeting it (its contact deleted) is unmarked."""
    now = now or utcnow()
    units = list(units)
    for deadline in event.deadlines:
        concerned = [u for u in units if u.tier == deadline.tier]
        if not concerned:
            continue
        existing = {f.unit_id: f for f in db.session.scalars(select(DeadlineFulfilment).where(
            DeadlineFulfilment.deadline_id == deadline.id,
            DeadlineFulfilment.unit_id.in_([u.id for u in concerned])))}
        for unit in concerned:
            row = existing.get(unit.id)
            met = _met(deadline, unit.id)
            if met and (row is None or row.fulfilled_at is None):
                if row is None:
                    row = DeadlineFulfilment(deadline_id=deadline.id, unit_id=unit.id)
                    db.session.add(row)
                row.fulfilled_at, row.late = now, now > deadline.due_at
            elif not met and row is not None and row.fulfilled_at is not None:
                row.fulfilled_at, row.late = None, False


def fulfilment_map(deadline: Deadline) -> dict[int, DeadlineFulfilment]:
    return {f.unit_id: f for f in db.session.scalars(
        select(DeadlineFulfilment).where(DeadlineFulfilment.deadline_id == deadline.id))}


def set_closed(deadline: Deadline, closed: bool, *, actor=None) -> Deadline:
    """The organizer closes registration for a deadline (late deliveries refused) or reopens it."""
    if closed and deadline.closed_at is None:
        deadline.closed_at = utcnow()
        audit.record("deadline.close", "deadline", deadline.id, actor=actor, kind=deadline.kind, tier=deadline.tier)
    elif not closed and deadline.closed_at is not None:
        deadline.closed_at = None
        audit.record("deadline.reopen", "deadline", deadline.id, actor=actor, kind=deadline.kind, tier=deadline.tier)
    db.session.commit()
    return deadline
